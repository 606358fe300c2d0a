"""Hypothesis in CI (CI=true) tries the same examples on every run and prints the blob that
replays a failure; a local run keeps exploring. Both hold for the settings each property test
declares, which are built on the profile tests/conftest.py loads."""

import os

from hypothesis import settings

from tests.db import test_arrays as test_pg_arrays

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def test_ci_runs_are_derandomized_and_local_runs_are_not():
    assert settings.default.derandomize is IN_CI
    assert settings.default.print_blob is True


def test_a_property_tests_own_settings_inherit_the_profile():
    declared = test_pg_arrays.test_any_text_round_trips._hypothesis_internal_use_settings

    assert declared.max_examples == 200  # its own @settings ...
    assert declared.derandomize is IN_CI  # ... on top of the profile
    assert declared.print_blob is True
