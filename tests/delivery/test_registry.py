"""The backend registry: one module and class per backend, the CLI's --backend choices equal to it."""

from __future__ import annotations

import typing

import pytest

from newsletter.delivery.base import Backend
from newsletter.delivery.registry import BACKENDS, backend_class, check_backend
from newsletter.errors import ConfigError


def test_each_name_builds_its_own_backend_class():
    for name in BACKENDS:
        cls = backend_class(name)
        assert issubclass(cls, Backend) and cls.name == name


def test_the_cli_offers_exactly_the_registered_backends():
    from newsletter.cli.delivery import BackendName

    assert set(typing.get_args(BackendName)) == set(BACKENDS)


def test_an_unknown_backend_names_the_setting(settings):
    with pytest.raises(ConfigError, match="unknown backend 'pigeon'") as found:
        check_backend("pigeon", settings)
    assert found.value.subject == "NEWSLETTER_BACKEND"
