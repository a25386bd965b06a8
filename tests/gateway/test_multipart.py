"""Multipart uploads through boto3 and the AWS CLI: parts staged in the store (not in a
process), so an upload begun through one gateway process completes through another;
S3's ETag and part checks; staged parts gone after Complete and Abort; UploadPartCopy
from a delta, streamed; the result stored as a delta like any upload."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.artifacts import release_zip
from tests.gateway.conftest import clean_env
from tests.gateway.server import Gateway, running
from tests.gateway.test_auth import error_of

MiB = 1024 * 1024


def staged(data: Path, bucket: str) -> list[str]:
    """The multipart uploads' records and parts left in a --data store."""
    return sorted(p.name for p in (data / bucket).iterdir() if p.name.startswith(".dg-mp"))


def s3_etag(parts: list[bytes]) -> str:
    joined = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(joined).hexdigest()}-{len(parts)}"'


def test_an_upload_begun_on_one_process_completes_on_another(tmp_path: Path) -> None:
    data = tmp_path / "store"
    backend = ["--data", str(data)]
    with (
        running(tmp_path / "one", backend, env=clean_env(), workers=1) as one,
        running(tmp_path / "two", backend, env=clean_env(), workers=1) as two,
    ):
        first, second = one.client(), two.client()
        first.create_bucket(Bucket="mpu")
        upload = first.create_multipart_upload(
            Bucket="mpu", Key="rel/app.bin", ContentType="application/x-app",
            Metadata={"build": "9"},
        )["UploadId"]  # fmt: skip
        parts = [bytes([n]) * (5 * MiB) for n in range(2)] + [b"tail" * 1000]
        etags = []
        for number, body in enumerate(parts, 1):
            client = first if number % 2 else second
            answer = client.upload_part(Bucket="mpu", Key="rel/app.bin", UploadId=upload,
                                        PartNumber=number, Body=body)  # fmt: skip
            etags.append(answer["ETag"])
        listed = second.list_parts(Bucket="mpu", Key="rel/app.bin", UploadId=upload)
        assert [p["Size"] for p in listed["Parts"]] == [len(p) for p in parts]
        uploads = first.list_multipart_uploads(Bucket="mpu")["Uploads"]
        assert [(u["Key"], u["UploadId"]) for u in uploads] == [("rel/app.bin", upload)]
        assert first.list_objects_v2(Bucket="mpu")["KeyCount"] == 0  # staged parts hidden

        done = second.complete_multipart_upload(
            Bucket="mpu", Key="rel/app.bin", UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e}
                                       for n, e in enumerate(etags, 1)]},
        )  # fmt: skip
        assert done["ETag"] == s3_etag(parts)
        head = first.head_object(Bucket="mpu", Key="rel/app.bin")
        assert (head["ETag"], head["ContentLength"]) == (done["ETag"], sum(map(len, parts)))
        assert (head["ContentType"], head["Metadata"]) == ("application/x-app", {"build": "9"})
        assert first.get_object(Bucket="mpu", Key="rel/app.bin")["Body"].read() == b"".join(
            parts)  # fmt: skip
        second_part = first.get_object(Bucket="mpu", Key="rel/app.bin", PartNumber=2)
        assert (second_part["PartsCount"], second_part["Body"].read()) == (3, parts[1])
        assert staged(data, "mpu") == []
        assert error_of(first.list_parts, Bucket="mpu", Key="rel/app.bin",
                        UploadId=upload) == (404, "NoSuchUpload")  # fmt: skip


def test_completions_are_checked_and_aborts_leave_nothing(gateway: Gateway, bucket: str) -> None:
    client = gateway.client()
    assert gateway.data is not None
    upload = client.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    small = client.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=1,
                               Body=b"small")["ETag"]  # fmt: skip
    last = client.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=2,
                              Body=b"last")["ETag"]  # fmt: skip

    def complete(parts: list[tuple[int, str]]) -> tuple[int, str]:
        return error_of(client.complete_multipart_upload, Bucket=bucket, Key="k",
                        UploadId=upload, MultipartUpload={"Parts": [
                            {"PartNumber": n, "ETag": e} for n, e in parts]})  # fmt: skip

    assert complete([(1, small), (2, last)]) == (400, "EntityTooSmall")
    assert complete([(2, last), (1, small)]) == (400, "InvalidPartOrder")
    assert complete([(1, last)]) == (400, "InvalidPart")
    assert complete([(3, last)]) == (400, "InvalidPart")
    assert error_of(client.upload_part, Bucket=bucket, Key="other", UploadId=upload,
                    PartNumber=1, Body=b"x") == (404, "NoSuchUpload")  # fmt: skip
    assert len(staged(gateway.data, bucket)) == 3
    client.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload)
    assert staged(gateway.data, bucket) == []
    assert error_of(client.abort_multipart_upload, Bucket=bucket, Key="k",
                    UploadId=upload) == (404, "NoSuchUpload")  # fmt: skip
    assert error_of(client.head_object, Bucket=bucket, Key="k")[0] == 404


def test_part_copies_and_transfers_of_release_files_store_deltas(
    gateway: Gateway, bucket: str, tmp_path: Path
) -> None:
    """boto3's managed transfer with a 5 MiB threshold: release zips go up in parts and
    are stored as deltas; then a part is copied out of one of them."""
    from boto3.s3.transfer import TransferConfig

    client = gateway.client()
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    files = [release_zip(tmp_path / f"big-1.{v}.zip", v, files=2, file_size=6 * MiB)
             for v in range(3)]  # fmt: skip
    for path in files:
        client.upload_file(str(path), bucket, f"big/{path.name}", Config=config)
    for path in files:
        head = client.head_object(Bucket=bucket, Key=f"big/{path.name}")
        parts = -(-path.stat().st_size // (5 * MiB))
        assert parts > 1
        assert head["ETag"].endswith(f'-{parts}"'), head["ETag"]
        out = tmp_path / f"out-{path.name}"
        client.download_file(bucket, f"big/{path.name}", str(out))
        assert out.read_bytes() == path.read_bytes()
    assert gateway.data is not None
    stored = sum(p.stat().st_size for p in (gateway.data / bucket / "big").iterdir())
    assert stored < 0.5 * sum(p.stat().st_size for p in files)

    upload = client.create_multipart_upload(Bucket=bucket, Key="copy.bin")["UploadId"]
    source = {"Bucket": bucket, "Key": f"big/{files[1].name}"}
    copied = client.upload_part_copy(Bucket=bucket, Key="copy.bin", UploadId=upload,
                                     PartNumber=1, CopySource=source,
                                     CopySourceRange="bytes=100-5243099")  # fmt: skip
    too_far = f"bytes=0-{files[1].stat().st_size}"
    assert error_of(client.upload_part_copy, Bucket=bucket, Key="copy.bin", UploadId=upload,
                    PartNumber=2, CopySource=source,
                    CopySourceRange=too_far)[1] == "InvalidRange"  # fmt: skip
    client.complete_multipart_upload(Bucket=bucket, Key="copy.bin", UploadId=upload,
                                     MultipartUpload={"Parts": [{"PartNumber": 1,
                                     "ETag": copied["CopyPartResult"]["ETag"]}]})  # fmt: skip
    body = client.get_object(Bucket=bucket, Key="copy.bin")["Body"].read()
    assert body == files[1].read_bytes()[100:5243100]
