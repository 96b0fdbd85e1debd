//! SDK failures sorted into what a caller can act on.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::error::display::DisplayErrorContext;

/// Error codes AWS services use for throttling and for their own transient faults.
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "SlowDown",
    "TransactionInProgressException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// What a failed call means for its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Throttled, timed out, a connection failure or a 5xx: retrying later can succeed. The
    /// SDK has already retried it [`crate::config::MAX_ATTEMPTS`] times.
    Transient(String),
    /// The service answered with an error code (e.g. `ConditionalCheckFailedException`).
    Service {
        code: String,
        message: String,
        status: Option<u16>,
    },
    /// Anything else (a request that could not be built, a response that could not be read).
    Other(String),
}

impl Failure {
    /// The service error code, if the service gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Failure::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Failure::Transient(m) | Failure::Other(m) => m.clone(),
            Failure::Service { code, message, .. } => format!("{code}: {message}"),
        }
    }
}

/// Sort an SDK error. Works for every service's operation errors: they all share the smithy
/// `HttpResponse` type that `aws_sdk_s3` re-exports.
pub fn classify<E>(err: &SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let text = || DisplayErrorContext(err).to_string();
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => Failure::Transient(text()),
        SdkError::ResponseError(_) => Failure::Transient(text()),
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().unwrap_or("Unknown").to_owned();
            let message = e.message().unwrap_or_default().to_owned();
            let status = Some(service.raw().status().as_u16());
            if TRANSIENT_CODES.contains(&code.as_str())
                || status.is_some_and(|s| s == 429 || s >= 500)
            {
                Failure::Transient(format!("{code}: {message}"))
            } else {
                Failure::Service {
                    code,
                    message,
                    status,
                }
            }
        }
        _ => Failure::Other(text()),
    }
}
