"""Path-loss models against values worked by hand from the published formulas.

Each expected number below was worked from the formula written next to it
(logarithms base 10, f in MHz unless said, d in km for Hata, m for 3GPP).
"""

import math

import numpy as np
import pytest

from covgap.kernels import pathloss as pl


# ITU-R P.525-4 eq. (4): L = 32.45 + 20 log f[MHz] + 20 log d[km]
#   900 MHz, 1 km:   32.4478 + 59.0849 + 0      = 91.533
#   2400 MHz, 10 km: 32.4478 + 67.6042 + 20.0   = 120.052
@pytest.mark.parametrize(("f", "d", "expected"), [(900.0, 1000.0, 91.533), (2400.0, 10000.0, 120.052)])
def test_free_space(f, d, expected):
    assert pl.free_space_db(f, d) == pytest.approx(expected, abs=0.005)


def test_free_space_slope_is_20_db_per_decade():
    assert pl.free_space_db(1800.0, 20000.0) - pl.free_space_db(1800.0, 2000.0) == pytest.approx(20.0)


# Okumura-Hata (Hata 1980; ITU-R P.529-3), f = 900 MHz, hb = 30 m, hm = 1.5 m, d = 5 km.
#   log f = 2.954243, log hb = 1.477121, log d = 0.698970
#   a(hm) small/medium city = (1.1 log f - 0.7) hm - (1.56 log f - 0.8) = 3.824501 - 3.808619 = 0.015882
#   L_urban = 69.55 + 26.16*2.954243 - 13.82*1.477121 - 0.015882 + (44.9 - 6.55*1.477121)*0.698970
#           = 69.55 + 77.28300 - 20.41381 - 0.015882 + 24.62115 = 151.0244
#   suburban: L_urban - 2 (log(900/28))^2 - 5.4 = 151.0244 - 4.542606 - 5.4 = 141.0818
#   open:     L_urban - 4.78 (log f)^2 + 18.33 log f - 40.94 = 151.0244 - 28.50643 = 122.5180
#   large city: a(hm) = 3.2 (log(11.75*1.5))^2 - 4.97 = -0.000912 -> 151.0244 + 0.015882 + 0.000912 = 151.0412
@pytest.mark.parametrize(
    ("env", "expected"),
    [(pl.URBAN, 151.0244), (pl.SUBURBAN, 141.0818), (pl.RURAL, 122.5180), (pl.DENSE_URBAN, 151.0412)],
)
def test_okumura_hata(env, expected):
    assert pl.hata_db(900.0, 5000.0, 30.0, 1.5, env) == pytest.approx(expected, abs=0.002)


# COST-231 Hata, f = 1800 MHz, hb = 30 m, hm = 1.5 m, d = 2 km.
#   log f = 3.255273; a(hm) = (1.1*3.255273 - 0.7)*1.5 - (1.56*3.255273 - 0.8) = 0.042975
#   L = 46.3 + 33.9*3.255273 - 20.41381 - 0.042975 + 35.224856*0.301030
#     = 46.3 + 110.35375 - 20.41381 - 0.042975 + 10.60374 = 146.8007 (medium city, Cm = 0)
#   metropolitan: large-city a(hm) = -0.000912 and Cm = 3 -> 149.8446
@pytest.mark.parametrize(("env", "expected"), [(pl.URBAN, 146.8007), (pl.DENSE_URBAN, 149.8446)])
def test_cost231_hata(env, expected):
    assert pl.cost231_db(1800.0, 2000.0, 30.0, 1.5, env) == pytest.approx(expected, abs=0.002)


def test_cost231_meets_hata_at_1500_mhz_within_a_few_db():
    # the two fits were made to the same Okumura curves; at the 1500 MHz seam they differ by < 3 dB
    assert abs(pl.cost231_db(1500.0, 5000.0, 30.0, 1.5, pl.URBAN) - pl.hata_db(1500.0, 5000.0, 30.0, 1.5, pl.URBAN)) < 3


# 3GPP TR 38.901 Table 7.4.1-1, RMa, fc = 0.7 GHz, hBS = 35 m, hUT = 1.5 m, h = 5 m, W = 20 m.
#   d_BP = 2 pi hBS hUT fc / c = 2 pi * 35 * 1.5 * 0.7e9 / 299792458 = 770.22 m
#   h^1.72 = 15.93046: min(0.03 h^1.72, 10) = 0.477914, min(0.044 h^1.72, 14.77) = 0.700940
#   d2D = 500 m: d3D = sqrt(500^2 + 33.5^2) = 501.121 m
#     PL1 = 20 log(40 pi 501.121 * 0.7 / 3) + 0.477914 log(501.121) - 0.700940 + 0.002 log(5) * 501.121 = 84.6325
#   d2D = 2000 m (> d_BP): d3D = 2000.281 m; PL2 = PL1(770.22) + 40 log(2000.281 / 770.22) = 105.4104
#   NLOS at 2000 m: PL' = 161.04 - 7.1 log 20 + 7.5 log 5 - (24.37 - 3.7 (5/35)^2) log 35
#     + (43.42 - 3.1 log 35)(log 2000.281 - 3) + 20 log 0.7 - (3.2 (log 17.625)^2 - 4.97) = 128.0677
#     = max(PL_LOS, PL')
@pytest.mark.parametrize(("d", "los", "expected"), [(500.0, True, 84.6325), (2000.0, True, 105.4104),
                                                      (2000.0, False, 128.0677)])
def test_rma(d, los, expected):
    assert pl.rma_db(700.0, d, 35.0, 1.5, los) == pytest.approx(expected, abs=0.002)


# 3GPP TR 38.901 Table 7.4.1-1, UMa, fc = 3.5 GHz, hBS = 25 m, hUT = 1.5 m.
#   d'_BP = 4 (25 - 1)(1.5 - 1) fc / c = 48 * 3.5e9 / 299792458 = 560.39 m
#   d2D = 200 m: d3D = sqrt(200^2 + 23.5^2) = 201.376
#     PL1 = 28 + 22 log 201.376 + 20 log 3.5 = 28 + 50.68815 + 10.88136 = 89.5695
#     NLOS: 13.54 + 39.08 log 201.376 + 20 log 3.5 - 0.6 (1.5 - 1.5) = 114.4620
#   d2D = 1000 m: d3D = 1000.276
#     PL2 = 28 + 40 log 1000.276 + 20 log 3.5 - 9 log(560.39^2 + 23.5^2) = 109.4065
@pytest.mark.parametrize(("d", "los", "expected"), [(200.0, True, 89.5695), (200.0, False, 114.4620),
                                                      (1000.0, True, 109.4065)])
def test_uma(d, los, expected):
    assert pl.uma_db(3500.0, d, 25.0, 1.5, los) == pytest.approx(expected, abs=0.002)


def test_breakpoint_is_continuous():
    d_bp = 2 * math.pi * 35.0 * 1.5 * 700e6 / pl.SPEED_OF_LIGHT_M_S
    below = pl.rma_db(700.0, d_bp * 0.9999, 35.0, 1.5, True)
    above = pl.rma_db(700.0, d_bp * 1.0001, 35.0, 1.5, True)
    assert above == pytest.approx(below, abs=0.05)


@pytest.mark.parametrize("model", [pl.FREE_SPACE, pl.HATA, pl.COST231, pl.RMA, pl.UMA])
def test_dispatch_never_below_free_space(model):
    f = {pl.FREE_SPACE: 900.0, pl.HATA: 900.0, pl.COST231: 1800.0, pl.RMA: 2100.0, pl.UMA: 3500.0}[model]
    for d in (0.0, 5.0, 50.0, 500.0, 5000.0, 20000.0):
        for los in (True, False):
            loss = pl.path_loss_db(model, pl.SUBURBAN, f, d, 30.0, 1.5, los)
            assert loss >= pl.free_space_db(f, max(d, pl.MIN_DISTANCE_M)) - 1e-9


# ITU-R P.526-15 eq. (31): J(v) = 6.9 + 20 log(sqrt((v - 0.1)^2 + 1) + v - 0.1), v > -0.78
#   J(0) = 6.9 + 20 log(1.004988 - 0.1) = 6.0329;  J(1) = 6.9 + 20 log(1.345362 + 0.9) = 13.9257
#   J(-0.5) = 6.9 + 20 log(1.166190 - 0.6) = 1.9592;  J(2.4) = 20.5393
@pytest.mark.parametrize(("v", "expected"), [(0.0, 6.0329), (1.0, 13.9257), (-0.5, 1.9592), (2.4, 20.5393),
                                             (-0.78, 0.0), (-3.0, 0.0)])
def test_knife_edge(v, expected):
    assert pl.knife_edge_db(v) == pytest.approx(expected, abs=0.0005)
    assert pl.knife_edge_table_db(v) == pytest.approx(expected, abs=0.0005)


def test_tabulated_knife_edge_matches_the_formula():
    for v in np.concatenate([np.linspace(-1.0, 30.0, 100_003), [-0.78, -0.7799, 24.999, 25.0, 25.001, 80.0]]):
        assert abs(pl.knife_edge_table_db(v) - pl.knife_edge_db(v)) < 5e-5


def test_curvature_drop():
    # d^2 / (2 k a): 10 km at k = 4/3 -> 1e8 / (2 * 4/3 * 6371000) = 5.886 m
    assert pl.curvature_drop_m(10000.0, 4.0 / 3.0) == pytest.approx(5.886, abs=0.001)
