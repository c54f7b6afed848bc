"""In AWS the tokens and the Roamify key come from Secrets Manager; the authorizer reads them there."""

import boto3
import pytest
from moto import mock_aws

from tests.conftest import REGION, make_settings


@pytest.fixture
def secrets():
    with mock_aws():
        client = boto3.client("secretsmanager", region_name=REGION)
        admin = client.create_secret(Name="roamsync/admin", SecretString="admin-from-sm")["ARN"]
        customer = client.create_secret(Name="roamsync/client", SecretString="client-from-sm")["ARN"]
        yield admin, customer


def test_the_authorizer_reads_both_tokens_from_secrets_manager(secrets, monkeypatch):
    from roamsync_dev.lambda_runtime import load_module

    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    admin_arn, client_arn = secrets
    settings = make_settings(
        admin_token=None, client_token=None, admin_token_secret=admin_arn, client_token_secret=client_arn
    )
    authorizer = load_module("AuthorizerFunction")

    assert authorizer.role_of("admin-from-sm", settings).value == "admin"
    assert authorizer.role_of("client-from-sm", settings).value == "client"
    assert authorizer.role_of("admin-secret-token", settings) is None


def test_a_missing_secret_configuration_is_a_clear_error():
    from roamsync.adapters.secrets import MissingSecret, resolve_secret

    with pytest.raises(MissingSecret, match="the admin token is not configured"):
        resolve_secret(None, None, what="the admin token")
