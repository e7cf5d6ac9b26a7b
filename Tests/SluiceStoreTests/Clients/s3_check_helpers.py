"""What the boto3 check scripts share: a client for one key pair, and how a check reports."""
import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError


def client(endpoint, access, secret, **config):
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=access, aws_secret_access_key=secret,
                        region_name="us-east-1", config=Config(retries={"max_attempts": 1}, **config))


def anonymous_client(endpoint):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}))


def error_code(call):
    """The S3 error code and HTTP status a call fails with."""
    try:
        call()
    except ClientError as error:
        return error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("expected an error")


def check(name, condition, detail=""):
    if not condition:
        raise AssertionError(f"{name}: {detail}")
    print("ok", name)
