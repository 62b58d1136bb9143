"""Degree of Urbanisation on grids built so that the classes are known."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st

from covgap.errors import GridError
from covgap.grid import AnalysisGrid
from covgap.urbanisation import (
    RURAL,
    URBAN_CENTRE,
    URBAN_CLUSTER,
    aggregate_1km,
    classify_1km,
    degree_of_urbanisation,
)

CRS = "EPSG:32649"  # UTM 49N (Da Nang)
X0, Y0 = 800_000.0, 1_780_000.0  # on the 1 km lattice


def grid(res: float, width: int, height: int, x0: float = X0, y0: float = Y0) -> AnalysisGrid:
    return AnalysisGrid(CRS, Affine(res, 0.0, x0, 0.0, -res, y0), width, height)


def population(values: np.ndarray, res: float, x0: float = X0, y0: float = Y0):
    g = grid(res, values.shape[1], values.shape[0], x0, y0)
    return g.dataarray(values.astype(np.float32), "population", "people", "Population")


def test_dense_block_large_enough_is_an_urban_centre_with_its_suburbs_a_cluster():
    pop = np.zeros((14, 14))
    pop[2:12, 2:12] = 400.0  # suburbs: 300..1500 per km2
    pop[4:10, 4:10] = 2000.0  # 36 km2 x 2000 = 72,000 people >= 50,000
    classes = classify_1km(pop)
    assert (classes[4:10, 4:10] == URBAN_CENTRE).all()
    ring = np.zeros_like(classes, dtype=bool)
    ring[2:12, 2:12] = True
    ring[4:10, 4:10] = False
    assert (classes[ring] == URBAN_CLUSTER).all()
    assert (classes[:2] == RURAL).all() and (classes[:, 12:] == RURAL).all()


def test_dense_blob_too_small_for_a_centre_is_an_urban_cluster():
    pop = np.zeros((7, 7))
    pop[2:5, 2:5] = 2000.0  # 18,000 people: >= 5,000 but < 50,000
    classes = classify_1km(pop)
    assert (classes[2:5, 2:5] == URBAN_CLUSTER).all()
    assert (classes == URBAN_CLUSTER).sum() == 9


def test_moderate_cluster_below_5000_people_is_rural():
    pop = np.zeros((6, 6))
    pop[2:4, 2:4] = 1000.0  # 4,000 people
    assert (classify_1km(pop) == RURAL).all()


def test_exact_thresholds_count():
    pop = np.zeros((6, 6))
    pop[1:3, 1:4] = 5000.0 / 6  # 833.3 per km2, exactly 5,000 people
    assert (classify_1km(pop)[1:3, 1:4] == URBAN_CLUSTER).all()
    centre = np.full((5, 5), 2000.0)  # 50,000 exactly, density 2,000
    assert (classify_1km(centre) == URBAN_CENTRE).all()


def test_centre_uses_4_connectivity_cluster_uses_8():
    pop = np.zeros((12, 12))
    pop[0:5, 0:5] = 1600.0  # 40,000
    pop[5:10, 5:10] = 1600.0  # 40,000, touching only diagonally
    classes = classify_1km(pop)
    assert not (classes == URBAN_CENTRE).any()  # neither half reaches 50,000 alone
    assert (classes[pop > 0] == URBAN_CLUSTER).all()  # one 8-connected cluster


def test_majority_rule_fills_a_notch():
    pop = np.zeros((11, 11))
    pop[2:9, 2:9] = 2000.0  # 98,000
    pop[2, 5] = 0.0  # notch on the top edge: 5 of its 8 neighbours are in the centre
    pop[1, 1] = 0.0
    classes = classify_1km(pop)
    assert classes[2, 5] == URBAN_CENTRE
    assert classes[1, 1] == RURAL  # outside the corner: 1 neighbour in the centre


def test_small_holes_are_filled_large_ones_are_not():
    pop = np.full((14, 14), 2000.0)
    pop[2:6, 2:6] = 0.0  # 16 km2 hole: majority takes its corners, then 12 km2 < 15 is filled
    pop[7:12, 7:12] = 0.0  # 25 km2: majority takes the 4 corners, 21 km2 stays a hole
    classes = classify_1km(pop)
    assert (classes[2:6, 2:6] == URBAN_CENTRE).all()
    hole = classes[7:12, 7:12]
    assert hole[0, 0] == hole[0, 4] == hole[4, 0] == hole[4, 4] == URBAN_CENTRE
    assert (hole[1:4, 1:4] == RURAL).all()
    assert (hole == RURAL).sum() == 21


def test_majority_rule_iterates_until_stable():
    pop = np.zeros((12, 12))
    pop[1:11, 1:11] = 2000.0
    pop[4:7, 4:7] = 0.0  # 3x3 hole: corners, then edges, then the middle join
    classes = classify_1km(pop)
    assert (classes[1:11, 1:11] == URBAN_CENTRE).all()


def test_majority_rule_only_joins_one_centre_at_a_time():
    pop = np.zeros((9, 25))
    pop[1:8, 1:11] = 2000.0  # two centres 3 km apart: the gap never has 5 neighbours in one
    pop[1:8, 14:24] = 2000.0
    classes = classify_1km(pop)
    assert (classes[:, 11:14] == RURAL).all()


def test_aggregate_1km_conserves_and_nests_100m_cells():
    rng = np.random.default_rng(71942)
    values = rng.gamma(0.5, 20.0, size=(37, 53)).astype(np.float32)
    pop = population(values, 100.0, x0=X0 + 300.0, y0=Y0 - 700.0)  # lattice cuts through the grid
    km = aggregate_1km(pop)
    assert km.sum() == pytest.approx(float(values.astype(np.float64).sum()), rel=1e-9)
    assert km.rio.crs == pop.rio.crs
    assert float(km.x[0]) % 1000 == 500.0 and float(km.y[0]) % 1000 == 500.0
    # the km cell holding analysis rows 3..12 and cols 7..16 (x0 + 300 + 700 = whole km)
    assert float(km.values[1, 1]) == pytest.approx(float(values[3:13, 7:17].astype(np.float64).sum()), rel=1e-9)


def test_aggregate_1km_general_resolution_is_area_weighted():
    pop = population(np.full((10, 10), 90.0), 300.0)  # 1,000 people per km2, 3 km x 3 km
    km = aggregate_1km(pop)
    assert km.shape == (3, 3)
    np.testing.assert_allclose(km.values, 1000.0, rtol=1e-9)


def test_urbanisation_maps_1km_classes_back_by_cell_centre():
    pattern = np.zeros((14, 14))
    pattern[2:12, 2:12] = 400.0
    pattern[4:10, 4:10] = 2000.0
    pattern[0:2, 0:2] = 0.5
    fine = np.kron(pattern, np.ones((10, 10))) / 100.0  # 100 m cells, same people per km
    out = degree_of_urbanisation(population(fine, 100.0))
    np.testing.assert_array_equal(out.values, np.kron(classify_1km(pattern), np.ones((10, 10), np.uint8)))
    assert out.dtype == np.uint8 and out.name == "urbanisation"
    assert out.attrs["units"] == "1" and "Urbanisation" in out.attrs["long_name"]
    assert out.attrs["flag_values"].tolist() == [1, 2, 3]
    assert out.attrs["flag_meanings"] == "rural urban_cluster urban_centre"
    assert out.rio.crs.to_epsg() == 32649


def test_urbanisation_keeps_coords_with_non_dividing_resolution():
    pop = population(np.full((20, 20), 2000.0 * 0.3 * 0.3), 300.0, x0=X0 + 150.0)
    out = degree_of_urbanisation(pop)
    assert out.shape == pop.shape
    np.testing.assert_array_equal(out.x.values, pop.x.values)
    assert out.values[10, 10] == URBAN_CENTRE  # 6 km x 6 km at 2,000 per km2


def test_urbanisation_rejects_a_geographic_crs():
    pop = population(np.ones((4, 4)), 100.0).rio.write_crs("EPSG:4326")
    with pytest.raises(GridError, match="projected"):
        degree_of_urbanisation(pop)


def test_urbanisation_rejects_transposed_dims():
    pop = population(np.ones((4, 5)), 100.0).transpose("x", "y")
    with pytest.raises(GridError, match="transpose"):
        degree_of_urbanisation(pop)


@settings(max_examples=40, deadline=None)
@given(
    res=st.sampled_from([30.0, 90.0, 100.0, 250.0, 300.0, 333.0, 1000.0, 1500.0]),
    shift_x=st.integers(-20, 20),
    shift_y=st.integers(-20, 20),
    shape=st.tuples(st.integers(1, 25), st.integers(1, 25)),
    seed=st.integers(0, 2**16),
)
def test_aggregate_1km_conserves_people_for_any_resolution_and_alignment(res, shift_x, shift_y, shape, seed):
    values = np.random.default_rng(seed).gamma(0.5, 50.0, size=shape)
    pop = population(values, res, x0=X0 + shift_x * 37.0, y0=Y0 + shift_y * 41.0)
    km = aggregate_1km(pop)
    assert float(km.sum()) == pytest.approx(float(values.astype(np.float32).astype(np.float64).sum()), rel=1e-9)
    assert (km.values >= 0).all()
    classes = degree_of_urbanisation(pop)
    assert classes.shape == pop.shape and set(np.unique(classes.values)) <= {1, 2, 3}
