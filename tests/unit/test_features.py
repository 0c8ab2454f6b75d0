import numpy as np
import pytest

from alflow import features
from alflow.errors import FeatureError

IDS = ["s0", "s1", "s2"]


def test_fields_are_concatenated_in_order_as_float32():
    X = features.assemble({"emb": [[1, 2], [3, 4], [5, 6]], "bright": [0.1, 0.2, 0.3]}, IDS)
    assert X.dtype == np.float32
    np.testing.assert_allclose(X, [[1, 2, 0.1], [3, 4, 0.2], [5, 6, 0.3]], rtol=1e-6)
    X2 = features.assemble({"bright": [0.1, 0.2, 0.3], "emb": [[1, 2], [3, 4], [5, 6]]}, IDS)
    np.testing.assert_allclose(X2[:, 0], [0.1, 0.2, 0.3], rtol=1e-6)


def test_missing_values_name_field_and_samples():
    with pytest.raises(FeatureError, match=r"'emb' is missing on 1 samples \(s1\)"):
        features.assemble({"emb": [[1, 2], None, [5, 6]]}, IDS)


def test_ragged_vectors_name_field_and_odd_samples():
    with pytest.raises(FeatureError, match=r"'emb' has ragged vectors.*length 2.*\(s2\)"):
        features.assemble({"emb": [[1, 2], [3, 4], [5, 6, 7]]}, IDS)


def test_non_finite_values_name_samples():
    with pytest.raises(
        FeatureError, match=r"'x' has NaN or infinite values on 2 samples \(s0, s2\)"
    ):
        features.assemble({"x": [np.nan, 1.0, np.inf]}, IDS)


def test_no_fields_is_an_error():
    with pytest.raises(FeatureError, match="at least one"):
        features.assemble({}, IDS)


def test_standardize_zero_mean_unit_variance_and_constant_columns():
    X = np.array([[1, 5], [3, 5], [5, 5]], dtype=np.float32)
    Z, _mean, _scale = features.standardize(X)
    np.testing.assert_allclose(Z.mean(axis=0), [0, 0], atol=1e-6)
    np.testing.assert_allclose(Z[:, 0].std(), 1, atol=1e-6)
    assert np.all(Z[:, 1] == 0)


def test_cache_round_trip_and_lookup(tmp_path):
    ids = np.array(["c", "a", "b"], dtype=object)
    X = np.arange(6, dtype=np.float32).reshape(3, 2)
    fm = features.write_cache(tmp_path / "k", ids, X)
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


def test_chunks_assemble_like_one_read():
    columns = {"emb": [[1, 2], [3, 4], [5, 6]], "bright": [0.1, 0.2, 0.3]}
    chunks = [
        (IDS[:2], {"emb": columns["emb"][:2], "bright": columns["bright"][:2]}),
        (IDS[2:], {"emb": columns["emb"][2:], "bright": columns["bright"][2:]}),
    ]
    ids, X = features.assemble_chunks(iter(chunks))
    assert list(ids) == IDS and X.dtype == np.float32
    np.testing.assert_array_equal(X, features.assemble(columns, IDS))


def test_vector_length_changing_between_chunks_names_the_later_samples():
    chunks = [(IDS[:2], {"emb": [[1, 2], [3, 4]]}), (IDS[2:], {"emb": [[5, 6, 7]]})]
    with pytest.raises(FeatureError, match=r"'emb' has ragged vectors.*length 2.*have 3 \(s2\)"):
        features.assemble_chunks(chunks)


def test_errors_inside_a_later_chunk_name_its_samples():
    chunks = [(IDS[:2], {"x": [1.0, 2.0]}), (IDS[2:], {"x": [None]})]
    with pytest.raises(FeatureError, match=r"'x' is missing on 1 samples \(s2\)"):
        features.assemble_chunks(chunks)


def test_no_chunks_is_an_empty_matrix_and_no_fields_an_error():
    ids, X = features.assemble_chunks([])
    assert ids.shape == (0,) and X.shape == (0, 0)
    with pytest.raises(FeatureError, match="at least one"):
        features.assemble_chunks([(IDS, {})])
