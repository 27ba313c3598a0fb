"""``aws.client``: every Account of a process shares one botocore data loader per data path,
so opening many targets parses botocore's service models once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.aws.client import Account
from reconciler.aws.settings import AwsSettings


def loader_of(account: Account) -> Any:
    return account._session._session.get_component("data_loader")


def test_accounts_share_one_data_loader() -> None:
    first = Account(AwsSettings(region="us-east-1"))
    second = Account(AwsSettings(region="eu-west-1"))
    assert loader_of(first) is loader_of(second)
    paths = loader_of(first).search_paths
    assert len(paths) == len(set(paths)), paths  # boto3's data path added once, not per session
    assert any(p.endswith("boto3/data") for p in paths)


def test_another_data_path_has_a_loader_of_its_own(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    usual = loader_of(Account(AwsSettings(region="us-east-1")))
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    own = loader_of(Account(AwsSettings(region="us-east-1")))
    assert own is not usual
    assert str(tmp_path) in own.search_paths
