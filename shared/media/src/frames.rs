//! Reading the raw streams a [`Pass`](crate::pass::Pass) produces: fixed-size RGB frames,
//! self-describing PPM frames, and little-endian `f32` samples.

use std::io::{self, BufRead, BufReader, Read};

/// Read exactly `buf.len()` bytes; `Ok(false)` at a clean end of stream (nothing read).
/// A stream that ends inside a frame ends there too: the partial frame is dropped.
pub fn read_frame(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Binary PPM (`P6`, 8-bit) images one after another, as ffmpeg's `-c:v ppm -f image2pipe`
/// writes them: every frame says its own size, so a rotated or resized stream needs no
/// knowledge of the output dimensions in advance.
pub struct PpmReader<'a> {
    reader: BufReader<&'a mut dyn Read>,
}

impl<'a> PpmReader<'a> {
    pub fn new(reader: &'a mut dyn Read) -> Self {
        Self {
            reader: BufReader::with_capacity(1 << 16, reader),
        }
    }

    /// The next image, or `None` at the end of the stream.
    pub fn next_image(&mut self) -> io::Result<Option<image::RgbImage>> {
        let mut fields = [0u32; 3];
        let mut magic = [0u8; 2];
        if !read_frame(&mut self.reader, &mut magic)? {
            return Ok(None);
        }
        if &magic != b"P6" {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a binary PPM",
            ));
        }
        for field in &mut fields {
            *field = self.header_number()?;
        }
        let [width, height, max] = fields;
        if max != 255 || width == 0 || height == 0 || width > 16_384 || height > 16_384 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unsupported PPM {width}x{height} max {max}"),
            ));
        }
        let mut data = vec![0u8; width as usize * height as usize * 3];
        if !read_frame(&mut self.reader, &mut data)? {
            return Ok(None);
        }
        Ok(image::RgbImage::from_raw(width, height, data))
    }

    /// A decimal header field, after whitespace; consumes the one whitespace byte after it.
    fn header_number(&mut self) -> io::Result<u32> {
        let mut value: u32 = 0;
        let mut digits = 0;
        loop {
            let byte = {
                let buf = self.reader.fill_buf()?;
                let Some(&byte) = buf.first() else {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                };
                byte
            };
            self.reader.consume(1);
            match byte {
                b'0'..=b'9' => {
                    value = value
                        .checked_mul(10)
                        .and_then(|v| v.checked_add(u32::from(byte - b'0')))
                        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "PPM header"))?;
                    digits += 1;
                }
                b' ' | b'\n' | b'\r' | b'\t' if digits == 0 => {}
                b' ' | b'\n' | b'\r' | b'\t' => return Ok(value),
                _ => return Err(io::Error::new(io::ErrorKind::InvalidData, "PPM header")),
            }
        }
    }
}

/// Little-endian `f32` samples in chunks of `chunk` values (the last may be shorter), until
/// the stream ends or `each` fails (its error is returned; the caller's pass drains the rest).
pub fn for_each_sample_chunk<E: From<io::Error>>(
    reader: &mut dyn Read,
    chunk: usize,
    mut each: impl FnMut(&[f32]) -> Result<(), E>,
) -> Result<(), E> {
    let mut bytes = vec![0u8; chunk * 4];
    let mut samples = Vec::with_capacity(chunk);
    let mut carry = 0usize;
    loop {
        let n = match reader.read(&mut bytes[carry..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        let have = carry + n;
        let whole = have / 4 * 4;
        if whole > 0 && (n == 0 || have == bytes.len()) {
            samples.clear();
            samples.extend(
                bytes[..whole]
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            );
            each(&samples)?;
            bytes.copy_within(whole..have, 0);
            carry = have - whole;
        } else {
            carry = have;
        }
        if n == 0 {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppm_frames_of_different_sizes_follow_each_other() {
        let mut stream = Vec::new();
        stream.extend_from_slice(b"P6\n2 1\n255\n");
        stream.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
        stream.extend_from_slice(b"P6 1 2 255\n");
        stream.extend_from_slice(&[7, 8, 9, 10, 11, 12]);
        let mut slice: &[u8] = &stream;
        let mut reader = PpmReader::new(&mut slice);
        let first = reader.next_image().unwrap().unwrap();
        assert_eq!(first.dimensions(), (2, 1));
        assert_eq!(first.get_pixel(1, 0).0, [4, 5, 6]);
        let second = reader.next_image().unwrap().unwrap();
        assert_eq!(second.dimensions(), (1, 2));
        assert_eq!(second.get_pixel(0, 1).0, [10, 11, 12]);
        assert!(reader.next_image().unwrap().is_none());
    }

    #[test]
    fn a_truncated_ppm_frame_ends_the_stream() {
        let mut stream = b"P6\n2 2\n255\n".to_vec();
        stream.extend_from_slice(&[0; 5]);
        let mut slice: &[u8] = &stream;
        assert!(PpmReader::new(&mut slice).next_image().unwrap().is_none());
    }

    #[test]
    fn samples_arrive_whole_whatever_the_read_sizes() {
        let values: Vec<f32> = (0..1000).map(|i| i as f32 * 0.5).collect();
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        // A reader that returns 7 bytes at a time splits samples across reads.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(7).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut got = Vec::new();
        for_each_sample_chunk::<io::Error>(&mut Trickle(&bytes), 64, |chunk| {
            got.extend_from_slice(chunk);
            Ok(())
        })
        .unwrap();
        assert_eq!(got, values);
    }
}
