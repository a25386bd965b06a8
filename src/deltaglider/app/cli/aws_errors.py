"""Errors worded as the AWS CLI prints them: the line after `upload failed: ...`,
`fatal error: ` and the like. The core's errors carry S3's code, operation and message
as data; only this module turns them into the AWS CLI's sentences."""

from __future__ import annotations

from deltaglider.core.errors import DeltaGliderError, ObjectNotFound


class Fatal(Exception):
    """A problem found before anything is transferred; printed as is, exit status 255."""


def error_line(error: BaseException) -> str:
    """The one line the CLI prints for an error.

    An error that is S3's answer and nothing more reads as the AWS CLI prints a failed
    call: `An error occurred (NoSuchBucket) when calling the PutObject operation: The
    specified bucket does not exist`. A key looked up and not found reads as `aws s3 cp`
    says it: `An error occurred (404) when calling the HeadObject operation: Key "k" does
    not exist`. Errors with DeltaGlider's own account (a local path, a SHA256, a missing
    program), and those standing for no S3 call, print that account.
    """
    if not isinstance(error, DeltaGliderError):
        return str(error)
    if error.detail is not None or error.operation is None:
        return str(error)
    if isinstance(error, ObjectNotFound) and error.operation == "HeadObject":
        return aws_line("404", "HeadObject", f'Key "{error.key}" does not exist')
    return aws_line(error.code, error.operation, error.explanation)


def aws_line(code: str, operation: str, message: str) -> str:
    return f"An error occurred ({code}) when calling the {operation} operation: {message}"
