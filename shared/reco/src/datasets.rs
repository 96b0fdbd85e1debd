//! Loaders for the public evaluation datasets (read in place from `../shared/datasets/`; never
//! copied): Last.fm HetRec 2011 (implicit play counts per user and artist) and MovieLens 100K
//! (explicit 1–5 ratings with genres). Both come out in one shape, [`Dataset`], with dense
//! user and item indices and each record's dataset id kept as its external id.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A dataset file that is missing or does not parse.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {reason}")]
    Parse {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

/// One catalogue entry: a Last.fm artist or a MovieLens film.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogueItem {
    /// The dataset's own id for the item.
    pub external_id: String,
    pub title: String,
    pub artist: Option<String>,
    pub genres: Vec<String>,
    pub year: Option<u16>,
}

/// One user–item fact: play count (Last.fm) or rating (MovieLens).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interaction {
    pub user: u32,
    pub item: u32,
    pub value: f32,
    /// Unix seconds, where the dataset records a time.
    pub at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Dataset {
    pub name: &'static str,
    /// External ids by user index.
    pub users: Vec<String>,
    /// Items by item index.
    pub items: Vec<CatalogueItem>,
    pub interactions: Vec<Interaction>,
}

impl Dataset {
    /// Last.fm HetRec 2011: `artists.dat` (the catalogue) and `user_artists.dat` (play counts).
    /// Artists referred to by plays but absent from `artists.dat` are kept, named by their id.
    pub fn lastfm(dir: &Path) -> Result<Dataset, DatasetError> {
        let artists_path = dir.join("artists.dat");
        let mut items = Vec::new();
        let mut item_index = HashMap::new();
        for (line_no, line) in lines(&artists_path, Encoding::Utf8)? {
            let fields: Vec<&str> = line.split('\t').collect();
            if line_no == 1 && fields.first() == Some(&"id") {
                continue;
            }
            let [id, name, ..] = fields[..] else {
                return Err(parse_error(&artists_path, line_no, "expected id and name"));
            };
            let id = id.trim().to_owned();
            let name = name.trim().to_owned();
            item_index.insert(id.clone(), items.len() as u32);
            items.push(CatalogueItem {
                external_id: id,
                title: name.clone(),
                artist: Some(name),
                genres: Vec::new(),
                year: None,
            });
        }
        let plays_path = dir.join("user_artists.dat");
        let mut users = Indexer::default();
        let mut interactions = Vec::new();
        for (line_no, line) in lines(&plays_path, Encoding::Utf8)? {
            let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
            if line_no == 1 && fields.first() == Some(&"userID") {
                continue;
            }
            let [user, artist, weight] = fields[..] else {
                return Err(parse_error(
                    &plays_path,
                    line_no,
                    "expected user, artist, weight",
                ));
            };
            let value: f32 = weight
                .parse()
                .map_err(|_| parse_error(&plays_path, line_no, "weight is not a number"))?;
            let item = *item_index.entry(artist.to_owned()).or_insert_with(|| {
                items.push(CatalogueItem {
                    external_id: artist.to_owned(),
                    title: format!("artist {artist}"),
                    artist: None,
                    genres: Vec::new(),
                    year: None,
                });
                items.len() as u32 - 1
            });
            interactions.push(Interaction {
                user: users.index(user),
                item,
                value,
                at: None,
            });
        }
        Ok(Dataset {
            name: "lastfm",
            users: users.names,
            items,
            interactions,
        })
    }

    /// MovieLens 100K: `u.item` (films with genre flags), `u.genre`, `u.user`, and all
    /// 100,000 published ratings, read as `u1.base` + `u1.test` (each standard split is the
    /// whole set cut in two). Not `u.data`: this copy's has 348 extra rows by four users that
    /// `u.user` does not list (ids 995–998), which [`Dataset::movielens_u_data`] refuses.
    pub fn movielens(dir: &Path) -> Result<Dataset, DatasetError> {
        let (mut dataset, test) = Dataset::movielens_split(dir, "u1")?;
        dataset.interactions.extend(test);
        Ok(dataset)
    }

    /// MovieLens 100K with every row of `u.data`; a rating by a user `u.user` lacks is an error.
    pub fn movielens_u_data(dir: &Path) -> Result<Dataset, DatasetError> {
        let (users, items, item_index) = movielens_catalogue(dir)?;
        let interactions = movielens_ratings(&dir.join("u.data"), &users, &item_index)?;
        Ok(Dataset {
            name: "movielens",
            users: users.names,
            items,
            interactions,
        })
    }

    /// MovieLens 100K with one of its standard splits (`u1` … `u5`): the dataset holds the
    /// training ratings, and the test ratings are returned beside it, on the same indices.
    pub fn movielens_split(
        dir: &Path,
        split: &str,
    ) -> Result<(Dataset, Vec<Interaction>), DatasetError> {
        let (users, items, item_index) = movielens_catalogue(dir)?;
        let train = movielens_ratings(&dir.join(format!("{split}.base")), &users, &item_index)?;
        let test = movielens_ratings(&dir.join(format!("{split}.test")), &users, &item_index)?;
        let dataset = Dataset {
            name: "movielens",
            users: users.names,
            items,
            interactions: train,
        };
        Ok((dataset, test))
    }
}

type Catalogue = (Indexer, Vec<CatalogueItem>, HashMap<String, u32>);

fn movielens_catalogue(dir: &Path) -> Result<Catalogue, DatasetError> {
    let genre_path = dir.join("u.genre");
    let mut genres = Vec::new();
    for (line_no, line) in lines(&genre_path, Encoding::Latin1)? {
        if line.trim().is_empty() {
            continue;
        }
        let (name, index) = line
            .split_once('|')
            .ok_or_else(|| parse_error(&genre_path, line_no, "expected name|index"))?;
        let index: usize = index
            .trim()
            .parse()
            .map_err(|_| parse_error(&genre_path, line_no, "genre index is not a number"))?;
        if index != genres.len() {
            return Err(parse_error(&genre_path, line_no, "genres out of order"));
        }
        genres.push(name.to_owned());
    }

    let item_path = dir.join("u.item");
    let mut items = Vec::new();
    let mut item_index = HashMap::new();
    for (line_no, line) in lines(&item_path, Encoding::Latin1)? {
        let fields: Vec<&str> = line.split('|').collect();
        if fields.len() != 5 + genres.len() {
            return Err(parse_error(
                &item_path,
                line_no,
                &format!("expected {} fields, got {}", 5 + genres.len(), fields.len()),
            ));
        }
        let flags = &fields[5..];
        let item_genres = genres
            .iter()
            .zip(flags)
            .filter(|(name, flag)| flag.trim() == "1" && name.as_str() != "unknown")
            .map(|(name, _)| name.clone())
            .collect();
        item_index.insert(fields[0].to_owned(), items.len() as u32);
        items.push(CatalogueItem {
            external_id: fields[0].to_owned(),
            title: fields[1].to_owned(),
            artist: None,
            genres: item_genres,
            // "01-Jan-1995": the year is the last four characters.
            year: fields[2].rsplit('-').next().and_then(|y| y.parse().ok()),
        });
    }

    // Users in id order, so a user's index is the same in every split.
    let user_path = dir.join("u.user");
    let mut users = Indexer::default();
    for (line_no, line) in lines(&user_path, Encoding::Latin1)? {
        let id = line
            .split('|')
            .next()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| parse_error(&user_path, line_no, "expected a user id"))?;
        users.index(id);
    }
    Ok((users, items, item_index))
}

fn movielens_ratings(
    path: &Path,
    users: &Indexer,
    item_index: &HashMap<String, u32>,
) -> Result<Vec<Interaction>, DatasetError> {
    let mut out = Vec::new();
    for (line_no, line) in lines(path, Encoding::Latin1)? {
        let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
        let [user, item, rating, at] = fields[..] else {
            return Err(parse_error(
                path,
                line_no,
                "expected user, item, rating, time",
            ));
        };
        let user = *users
            .by_name
            .get(user)
            .ok_or_else(|| parse_error(path, line_no, &format!("unknown user {user}")))?;
        let item = *item_index
            .get(item)
            .ok_or_else(|| parse_error(path, line_no, &format!("unknown item {item}")))?;
        out.push(Interaction {
            user,
            item,
            value: rating
                .parse()
                .map_err(|_| parse_error(path, line_no, "rating is not a number"))?,
            at: Some(
                at.parse()
                    .map_err(|_| parse_error(path, line_no, "time is not a number"))?,
            ),
        });
    }
    Ok(out)
}

/// Dense indices for external ids, in order of first appearance.
#[derive(Default)]
struct Indexer {
    names: Vec<String>,
    by_name: HashMap<String, u32>,
}

impl Indexer {
    fn index(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.by_name.get(name) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(name.to_owned());
        self.by_name.insert(name.to_owned(), i);
        i
    }
}

#[derive(Clone, Copy)]
enum Encoding {
    Utf8,
    /// MovieLens and HetRec tags are ISO-8859-1: each byte is the code point of its character.
    Latin1,
}

/// The non-empty lines of a file, numbered from 1, without their line endings (CRLF or LF).
fn lines(path: &Path, encoding: Encoding) -> Result<Vec<(usize, String)>, DatasetError> {
    let bytes = std::fs::read(path).map_err(|source| DatasetError::Io {
        path: path.to_owned(),
        source,
    })?;
    let text = match encoding {
        Encoding::Utf8 => String::from_utf8(bytes).map_err(|e| DatasetError::Parse {
            path: path.to_owned(),
            line: 0,
            reason: format!("not UTF-8: {e}"),
        })?,
        Encoding::Latin1 => bytes.iter().map(|&b| b as char).collect(),
    };
    Ok(text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r').to_owned()))
        .filter(|(_, l)| !l.trim().is_empty())
        .collect())
}

fn parse_error(path: &Path, line: usize, reason: &str) -> DatasetError {
    DatasetError::Parse {
        path: path.to_owned(),
        line,
        reason: reason.to_owned(),
    }
}

/// Where the guide's datasets are, from the repository root or any crate inside it; `None`
/// when the folder is absent (tests then skip with a message).
pub fn shared_datasets_dir() -> Option<PathBuf> {
    let mut dir = std::env::current_dir().ok()?;
    loop {
        let candidate = dir.join("../shared/datasets");
        if candidate.join("README.md").is_file() {
            return candidate.canonicalize().ok();
        }
        if !dir.pop() {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, body: &[u8]) {
        std::fs::write(dir.join(name), body).unwrap();
    }

    #[test]
    fn lastfm_reads_crlf_plays_and_keeps_dataset_ids() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "artists.dat",
            b"id\tname\turl\tpictureURL\n1\tThe Invented Band\tu\tp\n2\tMade-Up Duo\tu\tp\n",
        );
        write(
            dir.path(),
            "user_artists.dat",
            b"userID\tartistID\tweight\r\n7\t2\t13883\r\n7\t9\t5\r\n8\t1\t1\r\n",
        );
        let d = Dataset::lastfm(dir.path()).unwrap();
        assert_eq!(d.users, ["7", "8"]);
        assert_eq!(d.items.len(), 3, "artist 9 has plays but no entry: kept");
        assert_eq!(d.items[1].title, "Made-Up Duo");
        assert_eq!(d.items[2].external_id, "9");
        assert_eq!(
            d.interactions[0],
            Interaction {
                user: 0,
                item: 1,
                value: 13883.0,
                at: None
            }
        );
    }

    #[test]
    fn a_malformed_line_names_its_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "artists.dat", b"id\tname\turl\tpictureURL\n");
        write(dir.path(), "user_artists.dat", b"7\t2\tmany\n");
        let err = Dataset::lastfm(dir.path()).unwrap_err().to_string();
        assert!(
            err.ends_with("user_artists.dat:1: weight is not a number"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = Dataset::movielens(dir.path()).unwrap_err().to_string();
        assert!(
            err.starts_with("cannot read ") && err.contains("u.genre"),
            "{err}"
        );
    }

    #[test]
    fn movielens_reads_latin1_titles_genres_and_years() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "u.genre", b"unknown|0\nAction|1\nComedy|2\n\n");
        write(
            dir.path(),
            "u.item",
            b"1|Fixture Film (1995)|01-Jan-1995||url|0|0|1\n2|Cr\xe9ature Fictive (1998)|01-Jan-1998||url|1|1|0\n",
        );
        write(
            dir.path(),
            "u.user",
            b"1|24|M|technician|85711\n2|53|F|other|94043\n",
        );
        write(
            dir.path(),
            "u.data",
            b"2\t1\t5\t881250949\n1\t2\t3\t891717742\n",
        );
        let d = Dataset::movielens_u_data(dir.path()).unwrap();
        assert_eq!(d.items[0].genres, ["Comedy"]);
        assert_eq!(d.items[1].title, "Créature Fictive (1998)");
        assert_eq!(d.items[1].genres, ["Action"], "`unknown` is not a genre");
        assert_eq!(d.items[1].year, Some(1998));
        assert_eq!(
            d.interactions[0].user, 1,
            "users are indexed in u.user order"
        );
        assert_eq!(d.interactions[0].at, Some(881250949));
    }

    #[test]
    fn the_real_datasets_load_with_their_published_sizes() {
        let Some(root) = shared_datasets_dir() else {
            eprintln!("skipped: ../shared/datasets is absent");
            return;
        };
        let lastfm = Dataset::lastfm(&root.join("lastfm-hetrec-2k")).unwrap();
        assert_eq!(lastfm.users.len(), 1892);
        assert_eq!(lastfm.interactions.len(), 92834);
        assert!(lastfm.items.len() >= 17632);
        let (ml, test) = Dataset::movielens_split(&root.join("ml-100k"), "u1").unwrap();
        assert_eq!((ml.users.len(), ml.items.len()), (943, 1682));
        assert_eq!((ml.interactions.len(), test.len()), (80000, 20000));
        let all = Dataset::movielens(&root.join("ml-100k")).unwrap();
        assert_eq!(all.interactions.len(), 100_000);
        let err = Dataset::movielens_u_data(&root.join("ml-100k")).unwrap_err();
        assert!(err.to_string().contains("unknown user"), "{err}");
    }
}
