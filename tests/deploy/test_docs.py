"""docs/kubernetes.md: the chart settings it shows install, the files it names exist."""

import re

import pytest

from tests.deploy.conftest import ROOT

DOC = (ROOT / "docs" / "kubernetes.md").read_text()


@pytest.mark.parametrize("setting", sorted(set(re.findall(r"--set (\S+=[^\s`]+)", DOC))))
def test_settings_shown_in_the_docs_install(template, setting):
    assert template(None, "--set", setting)


def test_files_named_in_the_docs_exist():
    paths = set(re.findall(r"`((?:charts|manifests|services|operator|crds)/[\w./-]+)`", DOC))
    paths |= set(re.findall(r"-f ((?:charts|manifests)/[\w./-]+)", DOC))
    assert len(paths) > 10
    for path in paths:
        assert (ROOT / path).exists(), path
