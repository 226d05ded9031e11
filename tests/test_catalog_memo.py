"""The catalog stages remember each service file by content (catalog/memo.py): a rebuild gives the
same model, and a change elsewhere in the catalog still reaches every service it concerns."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import CATALOG
from vigil.build import BuildReport, compile_catalog
from vigil.errors import CatalogError


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    shutil.copytree(CATALOG, tmp_path / "catalog")
    return tmp_path / "catalog"


def test_a_remembered_catalog_resolves_to_the_same_model(catalog: Path, tmp_path: Path) -> None:
    fresh = compile_catalog(catalog, BuildReport())[1]
    first = compile_catalog(catalog, BuildReport(), tmp_path / "cache")[1]
    again = compile_catalog(catalog, BuildReport(), tmp_path / "cache")[1]
    assert fresh == first == again
    assert list((tmp_path / "cache").rglob("*.json"))


def test_an_edited_service_is_read_again(catalog: Path, tmp_path: Path) -> None:
    compile_catalog(catalog, BuildReport(), tmp_path / "cache")
    service = catalog / "services" / "checkout.yaml"
    service.write_text(service.read_text().replace("warning: 0.5%", "warning: 0.7%"))
    model = compile_catalog(catalog, BuildReport(), tmp_path / "cache")[1]
    checkout = next(s for s in model["services"] if s["name"] == "checkout")
    error_ratio = next(m for m in checkout["metrics"] if m["id"] == "error_ratio")
    assert error_ratio["thresholds"][0]["text"] == "0.7%"


def test_a_removed_department_reaches_the_unchanged_services_that_it_owned(catalog: Path, tmp_path: Path) -> None:
    compile_catalog(catalog, BuildReport(), tmp_path / "cache")
    departments = catalog / "departments.yaml"
    departments.write_text(departments.read_text().replace("id: commerce-dev", "id: commerce-eng"))
    with pytest.raises(CatalogError, match=r"services/checkout.yaml:\d+: owner: unknown department 'commerce-dev'"):
        compile_catalog(catalog, BuildReport(), tmp_path / "cache")


def test_a_renamed_service_reaches_its_unchanged_dependants(catalog: Path, tmp_path: Path) -> None:
    compile_catalog(catalog, BuildReport(), tmp_path / "cache")
    redis = catalog / "services" / "redis-cache.yaml"
    redis.write_text(redis.read_text().replace("name: redis-cache", "name: redis-main"))
    with pytest.raises(CatalogError, match=r"services/checkout.yaml:\d+: dependencies\[\d\]: unknown service 'redis-cache'"):
        compile_catalog(catalog, BuildReport(), tmp_path / "cache")


def test_a_changed_profile_reaches_the_services_that_use_it(catalog: Path, tmp_path: Path) -> None:
    before = compile_catalog(catalog, BuildReport(), tmp_path / "cache")[1]
    profile = next((catalog / "profiles").glob("*.yaml"))
    profile.write_text(profile.read_text().replace("title: ", "title: Changed ", 1))
    fresh = compile_catalog(catalog, BuildReport())[1]
    assert fresh != before
    assert compile_catalog(catalog, BuildReport(), tmp_path / "cache")[1] == fresh
