"""Bucket calls: CreateBucket, DeleteBucket, HeadBucket, GetBucketLocation, ListBuckets.

On an S3 store a bucket is the store's own, so these go to it as they are (its answer
is boto3's), all but DeleteBucket: a bucket counts as empty when it holds only
DeltaGlider's internal objects, which go with it; BucketNotEmpty when a logical object
remains. On a local store (file://) they are answered here, as S3 answers them in the
client's region.
"""

from __future__ import annotations

from deltaglider.app.client.backend import Backend
from deltaglider.app.client.failures import S3Failure, no_such_bucket
from deltaglider.app.client.passthrough import passthrough
from deltaglider.app.client.request import Call
from deltaglider.app.client.responses import Answer, answer, xml_time

US_EAST_1 = "us-east-1"  # S3's region without a location constraint


def create_bucket(backend: Backend, call: Call) -> Answer:
    if backend.store is not None:
        return passthrough(backend, call)
    call.accept("Bucket", "CreateBucketConfiguration")
    config = call.params.get("CreateBucketConfiguration") or {}
    _check_constraint(backend.region, config.get("LocationConstraint"))
    if backend.region != US_EAST_1 and backend.service.buckets.bucket_exists(call.bucket):
        raise S3Failure(  # S3 outside us-east-1; there, creating it again succeeds
            409,
            "BucketAlreadyOwnedByYou",
            "Your previous request to create the named bucket succeeded and you already own it.",
            {"BucketName": call.bucket},
        )
    backend.service.make_bucket(call.bucket)
    location = f"/{call.bucket}"
    return answer(200, {"Location": location}, {"location": location})


def delete_bucket(backend: Backend, call: Call) -> Answer:
    call.accept("Bucket")
    backend.service.remove_bucket(call.bucket)
    return answer(204, {})


def head_bucket(backend: Backend, call: Call) -> Answer:
    if backend.store is not None:
        return passthrough(backend, call)
    call.accept("Bucket")
    if not backend.service.buckets.bucket_exists(call.bucket):
        raise no_such_bucket(call.bucket)
    region = backend.region
    return answer(200, {"BucketRegion": region}, {"x-amz-bucket-region": region})


def get_bucket_location(backend: Backend, call: Call) -> Answer:
    if backend.store is not None:
        return passthrough(backend, call)
    call.accept("Bucket")
    if not backend.service.buckets.bucket_exists(call.bucket):
        raise no_such_bucket(call.bucket)
    region = None if backend.region == US_EAST_1 else backend.region
    return answer(200, {"LocationConstraint": region}, {"content-type": "application/xml"})


def list_buckets(backend: Backend, call: Call) -> Answer:
    if backend.store is not None:
        return passthrough(backend, call)
    call.accept()
    buckets = [
        {"Name": bucket.name, "CreationDate": xml_time(bucket.created)}
        for bucket in backend.service.list_buckets()
    ]
    parsed = {"Buckets": buckets, "Owner": backend.owner()}
    return answer(200, parsed, {"content-type": "application/xml"})


def _check_constraint(region: str, constraint: str | None) -> None:
    """S3's rule: a bucket is made in the region of the endpoint asked, which the location
    constraint names (and must not name for us-east-1)."""
    if constraint == US_EAST_1 or (constraint == "" and region == US_EAST_1):
        raise S3Failure(
            400, "InvalidLocationConstraint", "The specified location-constraint is not valid"
        )
    if (constraint or US_EAST_1) != region:
        raise S3Failure(
            400,
            "IllegalLocationConstraintException",
            f"The {constraint or 'unspecified'} location constraint is incompatible for the "
            "region specific endpoint this request was sent to.",
        )
