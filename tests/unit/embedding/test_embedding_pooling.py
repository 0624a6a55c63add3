"""Mean pooling over the true lengths and L2 normalisation, on hand-made encoder outputs."""

from __future__ import annotations

import numpy as np
import pytest

from models.embedding.encoder import l2_normalize, mean_pool_normalize


def test_padding_positions_do_not_change_the_mean() -> None:
    hidden = np.zeros((2, 3, 2), dtype=np.float32)
    hidden[0] = [[1, 0], [3, 0], [99, 99]]  # third position is padding
    hidden[1] = [[0, 2], [0, 2], [0, 2]]
    pooled = mean_pool_normalize(hidden, [2, 3])
    np.testing.assert_allclose(pooled, [[1.0, 0.0], [0.0, 1.0]], atol=1e-6)


def test_rows_are_unit_length_float32() -> None:
    rng = np.random.default_rng(7)
    hidden = rng.normal(size=(4, 5, 8)).astype(np.float32) * 10
    pooled = mean_pool_normalize(hidden, [5, 1, 3, 4])
    assert pooled.dtype == np.float32
    assert pooled.shape == (4, 8)
    np.testing.assert_allclose(np.linalg.norm(pooled, axis=1), 1.0, atol=1e-5)


def test_pooled_direction_equals_masked_mean() -> None:
    rng = np.random.default_rng(3)
    hidden = rng.normal(size=(1, 6, 4)).astype(np.float32)
    expected = hidden[0, :4].mean(axis=0)
    expected /= np.linalg.norm(expected)
    np.testing.assert_allclose(mean_pool_normalize(hidden, [4])[0], expected, atol=1e-6)


def test_zero_vector_stays_zero_instead_of_nan() -> None:
    out = l2_normalize(np.zeros((1, 3)))
    assert not np.isnan(out).any()
    np.testing.assert_array_equal(out, np.zeros((1, 3), dtype=np.float32))


@pytest.mark.parametrize("lengths", [[0], [4], [1, 1]])
def test_lengths_must_match_the_batch(lengths: list[int]) -> None:
    with pytest.raises(ValueError):
        mean_pool_normalize(np.ones((1, 3, 2), dtype=np.float32), lengths)
