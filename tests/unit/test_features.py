import threading

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

from alflow.data import features
from alflow.errors import FeatureError

IDS = ["s0", "s1", "s2"]


def test_fields_are_concatenated_in_order_as_float32():
    X = features.assemble({"emb": [[1, 2], [3, 4], [5, 6]], "bright": [0.1, 0.2, 0.3]}, IDS)
    assert X.dtype == np.float32
    np.testing.assert_allclose(X, [[1, 2, 0.1], [3, 4, 0.2], [5, 6, 0.3]], rtol=1e-6)
    X2 = features.assemble({"bright": [0.1, 0.2, 0.3], "emb": [[1, 2], [3, 4], [5, 6]]}, IDS)
    np.testing.assert_allclose(X2[:, 0], [0.1, 0.2, 0.3], rtol=1e-6)


def test_missing_values_name_field_and_samples():
    with pytest.raises(FeatureError, match=r"'emb' is missing on 1 sample \(s1\)"):
        features.assemble({"emb": [[1, 2], None, [5, 6]]}, IDS)


def test_ragged_vectors_name_field_and_odd_samples():
    with pytest.raises(FeatureError, match=r"'emb' has ragged vectors.*length 2.*\(s2\)"):
        features.assemble({"emb": [[1, 2], [3, 4], [5, 6, 7]]}, IDS)


def test_non_finite_values_name_samples():
    with pytest.raises(
        FeatureError, match=r"'x' has NaN or infinite values on 2 samples \(s0, s2\)"
    ):
        features.assemble({"x": [np.nan, 1.0, np.inf]}, IDS)


@pytest.mark.parametrize("values", [["1.5", "2", "3"], [[1, 2], ["3", "4"], [5, 6]]])
def test_text_is_never_read_as_numbers(values):
    with pytest.raises(FeatureError, match=r"'x' holds text instead of numbers on \d samples?"):
        features.assemble({"x": values}, IDS)


def test_one_odd_sample_is_named_in_the_singular():
    with pytest.raises(FeatureError, match=r"but 1 sample differs \(s2\)"):
        features.assemble({"emb": [[1, 2], [3, 4], [5, 6, 7]]}, IDS)


def test_no_fields_is_an_error():
    with pytest.raises(FeatureError, match="at least one"):
        features.assemble({}, IDS)


def test_standardize_zero_mean_unit_variance_and_constant_columns():
    Z = np.array([[1, 5], [3, 5], [5, 5]], dtype=np.float32)
    features.standardize_in_place(Z)
    np.testing.assert_allclose(Z.mean(axis=0), [0, 0], atol=1e-6)
    np.testing.assert_allclose(Z[:, 0].std(), 1, atol=1e-6)
    assert np.all(Z[:, 1] == 0)


def test_cache_round_trip_and_lookup(tmp_path):
    X = np.arange(6, dtype=np.float32).reshape(3, 2)
    fm = features.build_cache(tmp_path / "k", [(["c", "a", "b"], {"v": X.tolist()})], 3, False)
    again = features.open_cache(tmp_path / "k")
    np.testing.assert_array_equal(again.X, X)
    assert again.take(["b", "c"]).tolist() == [[4, 5], [0, 1]]
    with pytest.raises(FeatureError, match="no cached features"):
        fm.take(["zz"])


def test_cache_key_changes_with_fields_flag_and_fingerprint():
    fp = ("2", "a", "b")
    base = features.cache_key("ds", ["x"], False, fp)
    assert base == features.cache_key("ds", ["x"], False, tuple(fp))
    assert base != features.cache_key("ds", ["x", "y"], False, fp)
    assert base != features.cache_key("ds", ["x"], True, fp)
    assert base != features.cache_key("ds", ["x"], False, ("3", "a", "c"))
    assert base != features.cache_key("other", ["x"], False, fp)


def test_vector_length_changing_between_chunks_names_the_later_samples(tmp_path):
    chunks = [(IDS[:2], {"emb": [[1, 2], [3, 4]]}), (IDS[2:], {"emb": [[5, 6, 7]]})]
    with pytest.raises(
        FeatureError, match=r"ragged vectors.*length 2.*1 later sample has 3 \(s2\)"
    ):
        features.build_cache(tmp_path / "k", chunks, 3, False)
    assert list(tmp_path.iterdir()) == []


def test_errors_inside_a_later_chunk_name_its_samples(tmp_path):
    chunks = [(IDS[:2], {"x": [1.0, 2.0]}), (IDS[2:], {"x": [None]})]
    with pytest.raises(FeatureError, match=r"'x' is missing on 1 sample \(s2\)"):
        features.build_cache(tmp_path / "k", chunks, 3, False)


def test_no_fields_in_a_chunk_is_an_error(tmp_path):
    with pytest.raises(FeatureError, match="at least one"):
        features.build_cache(tmp_path / "k", [(IDS, {})], 3, False)


def _folders(path) -> list[str]:
    """What a build leaves (the key's hidden lock files outlive every version of its cache)."""
    return sorted(p.name for p in path.iterdir() if not p.name.startswith("."))


def _chunks(X: np.ndarray, ids: list[str], size: int):
    for start in range(0, len(ids), size):
        yield ids[start : start + size], {"v": X[start : start + size].tolist()}


@pytest.mark.parametrize("standardized", [False, True])
def test_built_cache_equals_the_in_memory_matrix(tmp_path, standardized):
    rng = np.random.default_rng(0)
    X = (rng.normal(5, 3, size=(1000, 4)) * [1, 10, 0, 1]).astype(np.float32)
    ids = [f"s{i:04d}" for i in range(1000)]
    fm = features.build_cache(tmp_path / "k", _chunks(X, ids, 128), 1000, standardized)
    expected = StandardScaler().fit_transform(X) if standardized else X
    assert list(fm.ids) == ids and isinstance(fm.X, np.memmap) and fm.X.dtype == np.float32
    np.testing.assert_allclose(fm.X, expected, rtol=1e-5, atol=1e-6)
    assert _folders(tmp_path) == ["k"]


def test_standardize_in_place_across_chunks_matches_scikit_learn():
    X = np.random.default_rng(1).normal(100, 0.5, size=(300, 3)).astype(np.float32)
    Z = X.copy()
    features.standardize_in_place(Z, chunk=7)
    expected = StandardScaler().fit_transform(X.astype(np.float64))
    np.testing.assert_allclose(Z, expected, rtol=1e-4, atol=1e-4)


def test_a_bad_chunk_leaves_no_cache_and_no_temporary_folder(tmp_path):
    X = np.ones((10, 2), dtype=np.float32)
    ids = [f"s{i}" for i in range(10)]
    chunks = list(_chunks(X, ids, 4))
    chunks[2][1]["v"][0] = [1.0, float("nan")]
    with pytest.raises(FeatureError, match=r"NaN or infinite values on 1 sample \(s8\)"):
        features.build_cache(tmp_path / "k", chunks, 10, False)
    assert list(tmp_path.iterdir()) == []


def test_fewer_rows_than_expected_is_an_error_that_says_to_rerun(tmp_path):
    X = np.ones((6, 2), dtype=np.float32)
    with pytest.raises(FeatureError, match=r"5 samples were read where 6 .* run the step again"):
        features.build_cache(
            tmp_path / "k", _chunks(X[:5], [f"s{i}" for i in range(5)], 2), 6, True
        )
    assert list(tmp_path.iterdir()) == []


def test_an_empty_dataset_builds_an_empty_cache(tmp_path):
    fm = features.build_cache(tmp_path / "k", [], 0, True)
    assert fm.X.shape == (0, 0) and len(fm.ids) == 0


def test_rebuilding_replaces_the_old_cache(tmp_path):
    ids = ["a", "b"]
    features.build_cache(tmp_path / "k", _chunks(np.zeros((2, 1)), ids, 2), 2, False)
    fm = features.build_cache(tmp_path / "k", _chunks(np.ones((2, 3)), ids, 2), 2, False)
    assert fm.X.shape == (2, 3) and float(fm.X.sum()) == 6.0


def test_concurrent_builders_and_readers_of_one_key_never_fail(tmp_path):
    """Two commands building the same cache while a third opens it (the CI failure of
    ``test_three_concurrent_creations``: one builder removed the folder the other had just
    published)."""
    directory, ids, errors = tmp_path / "k", [f"s{i}" for i in range(64)], []
    features.build_cache(directory, _chunks(np.zeros((64, 4)), ids, 64), 64, False)
    stop = threading.Event()

    def build(value: float) -> None:
        try:
            for _ in range(15):
                fm = features.build_cache(
                    directory, _chunks(np.full((64, 4), value), ids, 16), 64, False
                )
                assert fm.X.shape == (64, 4)
        except Exception as error:  # the test reports every failure
            errors.append(error)

    def read() -> None:
        while not stop.is_set():
            try:
                assert features.open_cache(directory).X.shape == (64, 4)
            except Exception as error:
                errors.append(error)
                return

    readers = [threading.Thread(target=read) for _ in range(2)]
    builders = [threading.Thread(target=build, args=(v,)) for v in (1.0, 2.0)]
    for thread in readers + builders:
        thread.start()
    for thread in builders:
        thread.join()
    stop.set()
    for thread in readers:
        thread.join()
    assert errors == []
    assert _folders(tmp_path) == ["k"]  # no temporary or old folder left
    assert set(np.unique(features.open_cache(directory).X)) <= {1.0, 2.0}


def test_opening_a_missing_cache_fails_at_once(tmp_path):
    with pytest.raises(FileNotFoundError):
        features.open_cache(tmp_path / "absent")


def test_values_beyond_float32_range_are_refused_not_stored_as_infinite():
    with pytest.raises(
        FeatureError, match=r"'x' has NaN or infinite values on 1 sample \(s1\).*3\.4e38"
    ):
        features.assemble({"x": [1.0, 1e39, 2.0]}, IDS)
