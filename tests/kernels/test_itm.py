"""ITM kernels against NTIA's own test data (tests/data/itm, see its README).

Tolerances: losses within 0.05 dB of ``p2p.csv`` / ``area.csv``; the
command-line examples (losses, tables and intermediate values) to the
precision NTIA printed them, i.e. within half a unit of the last digit.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from covgap.kernels import itm as K

DATA = Path(__file__).parent.parent / "data" / "itm"


def _read_profile_line(line: str) -> tuple[np.ndarray, int, float]:
    values = np.array([float(v) for v in line.strip().split(",")])
    n_int = int(values[0])
    z = values[2:]
    assert z.size == n_int + 1
    return z, n_int, float(values[1])


def _p2p_cases() -> list[tuple[dict[str, str], str]]:
    with open(DATA / "p2p.csv") as f:
        rows = list(csv.DictReader(f))
    lines = [ln for ln in (DATA / "pfls.csv").read_text().splitlines() if ln.strip()]
    assert len(rows) == len(lines)
    return list(zip(rows, lines))


def _area_cases() -> list[dict[str, str]]:
    with open(DATA / "area.csv") as f:
        return list(csv.DictReader(f))


def _link(inp, time, location, situation):
    return K.link_parameters(
        float(inp["h_tx__meter"]), float(inp["h_rx__meter"]), int(inp["climate"]), float(inp["N_0"]),
        float(inp["f__mhz"]), int(inp["pol"]), float(inp["epsilon"]), float(inp["sigma"]), int(inp["mdvar"]),
        float(time), float(location), float(situation),
    )


def _p2p(z, n_int, xi, inp, time, location, situation):
    assert z.size == n_int + 1
    inter = np.empty(K.N_INTER)
    loss, warnings, rc = K.itm_p2p_tls(z, xi, _link(inp, time, location, situation), inter)
    return loss, warnings, rc, inter


def _area(inp, d_km, time, location, situation, site_tx="tx_site_criteria", site_rx="rx_site_criteria"):
    inter = np.empty(K.N_INTER)
    loss, warnings, rc = K.itm_area_tls(float(d_km), float(inp["delta_h__meter"]), int(inp[site_tx]),
                                        int(inp[site_rx]), _link(inp, time, location, situation), inter)
    return loss, warnings, rc, inter


@pytest.mark.parametrize("case", range(5))
def test_p2p_csv_within_005_db(case):
    row, line = _p2p_cases()[case]
    z, n_int, xi = _read_profile_line(line)
    loss, _, rc, _ = _p2p(z, n_int, xi, row, row["time"], row["location"], row["situation"])
    assert rc in (K.RC_SUCCESS, K.RC_SUCCESS_WITH_WARNINGS)
    assert abs(loss - float(row["A__db"])) <= 0.05


@pytest.mark.parametrize("case", range(5))
def test_area_csv_within_005_db(case):
    row = _area_cases()[case]
    loss, _, rc, _ = _area(row, row["d__km"], row["time"], row["location"], row["situation"],
                           "tx_siting_criteria", "rx_siting_criteria")
    assert rc in (K.RC_SUCCESS, K.RC_SUCCESS_WITH_WARNINGS)
    assert abs(loss - float(row["A__db"])) <= 0.05


# --- command-line examples ------------------------------------------------


def _inputs(name: str) -> dict[str, str]:
    out = {}
    for line in (DATA / name).read_text().splitlines():
        if line.strip():
            key, _, value = line.strip().partition(",")
            out[key] = value
    return out


def _printed(name: str) -> dict[str, str]:
    """``label -> printed number`` for the result and intermediate lines."""
    out = {}
    for line in (DATA / name).read_text().splitlines():
        parts = line.split()
        for label in ("Basic Transmission Loss", "Free Space", "Mode of Propagation", "ITM Return Code",
                      "ITM Warning Flags"):
            if line.startswith(label) and len(line.split()) > len(label.split()):
                out[label] = line[len(label):].split()[0]
        if parts and parts[0] in ("d__km", "theta_hzn_tx", "theta_hzn_rx", "d_hzn_tx__meter", "d_hzn_rx__meter",
                                  "h_e_tx__meter", "h_e_rx__meter", "N_s", "delta_h__meter", "A_ref__db"):
            out[parts[0]] = parts[1]
    return out


def _assert_printed(value: float, text: str) -> None:
    decimals = len(text.split(".")[1]) if "." in text else 0
    assert abs(value - float(text)) <= 0.5 * 10.0**-decimals + 1e-9, (value, text)


def _assert_intermediates(inter: np.ndarray, printed: dict[str, str]) -> None:
    _assert_printed(inter[K.INTER_A_FS_DB], printed["Free Space"])
    _assert_printed(inter[K.INTER_D_KM], printed["d__km"])
    _assert_printed(inter[K.INTER_THETA_HZN_TX] * 1000.0, printed["theta_hzn_tx"])
    _assert_printed(inter[K.INTER_THETA_HZN_RX] * 1000.0, printed["theta_hzn_rx"])
    _assert_printed(inter[K.INTER_D_HZN_TX_M], printed["d_hzn_tx__meter"])
    _assert_printed(inter[K.INTER_D_HZN_RX_M], printed["d_hzn_rx__meter"])
    _assert_printed(inter[K.INTER_H_E_TX_M], printed["h_e_tx__meter"])
    _assert_printed(inter[K.INTER_H_E_RX_M], printed["h_e_rx__meter"])
    _assert_printed(inter[K.INTER_N_S], printed["N_s"])
    _assert_printed(inter[K.INTER_DELTA_H_M], printed["delta_h__meter"])
    _assert_printed(inter[K.INTER_A_REF_DB], printed["A_ref__db"])
    assert int(inter[K.INTER_MODE]) == int(printed["Mode of Propagation"])


def _pfl():
    return _read_profile_line((DATA / "pfl.txt").read_text())


@pytest.mark.parametrize("example", ["p2ptls", "p2pcr"])
def test_cmd_example_p2p(example):
    inp = _inputs(f"i_{example}.txt")
    printed = _printed(f"o_{example}.txt")
    z, n_int, xi = _pfl()
    if "time" in inp:
        tls = (inp["time"], inp["location"], inp["situation"])
    else:  # NTIA's CR form: reliability -> time, 50 -> location, confidence -> situation
        tls = (inp["reliability"], 50.0, inp["confidence"])
    loss, warnings, rc, inter = _p2p(z, n_int, xi, inp, *tls)
    assert rc == int(printed["ITM Return Code"])
    assert warnings == int(printed["ITM Warning Flags"], 16)
    _assert_printed(loss, printed["Basic Transmission Loss"])
    _assert_intermediates(inter, printed)


@pytest.mark.parametrize("example", ["areatls", "areacr"])
def test_cmd_example_area(example):
    inp = _inputs(f"i_{example}.txt")
    printed = _printed(f"o_{example}.txt")
    if "time" in inp:
        tls = (inp["time"], inp["location"], inp["situation"])
    else:
        tls = (inp["reliability"], 50.0, inp["confidence"])
    loss, warnings, rc, inter = _area(inp, inp["d__km"], *tls)
    assert rc == int(printed["ITM Return Code"])
    assert warnings == int(printed["ITM Warning Flags"], 16)
    _assert_printed(loss, printed["Basic Transmission Loss"])
    _assert_intermediates(inter, printed)


def _table(name: str) -> list[list[str]]:
    lines = (DATA / name).read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("Basic Transmission Loss Results"))
    rows = []
    for ln in lines[start + 1 :]:
        parts = ln.split()
        if not parts:
            if rows:
                break
            continue
        if parts[0][0].isdigit() and "." in ln:
            rows.append(parts)
    return rows


def test_cmd_example_p2p_table():
    inp = _inputs("i_p2pcr_tbl.txt")
    confidences = inp["confidence"].split(",")
    z, n_int, xi = _pfl()
    rows = _table("o_p2pcr_tbl.txt")
    assert len(rows) == 3
    for row in rows:
        for conf, text in zip(confidences, row[1:]):
            loss, _, rc, inter = _p2p(z, n_int, xi, inp, row[0], 50.0, conf)
            assert rc == K.RC_SUCCESS
            _assert_printed(loss, text)
    _assert_intermediates(inter, _printed("o_p2pcr_tbl.txt"))


def test_cmd_example_area_table():
    inp = _inputs("i_areacr_tbl.txt")
    confidences = inp["confidence"].split(",")
    rows = _table("o_areacr_tbl.txt")
    assert [float(r[0]) for r in rows] == list(range(10, 100, 10)) + list(range(100, 1001, 100))
    for row in rows:
        for conf, text in zip(confidences, row[2:]):
            loss, _, rc, inter = _area(inp, row[0], inp["reliability"], 50.0, conf)
            assert rc in (K.RC_SUCCESS, K.RC_SUCCESS_WITH_WARNINGS)
            _assert_printed(loss, text)
        _assert_printed(inter[K.INTER_A_FS_DB], row[1])


# --- behaviour ------------------------------------------------------------


def test_return_codes_for_inputs_outside_domain():
    z, n_int, xi = _pfl()
    inter = np.empty(K.N_INTER)
    base = dict(h_tx=15.0, h_rx=3.0, climate=5, n_0=301.0, f_mhz=3500.0, pol=1, epsilon=15.0, sigma=0.005,
                mdvar=1, time=50.0, location=50.0, situation=50.0)
    cases = {
        ("h_tx", 0.4): K.RC_TX_TERMINAL_HEIGHT,
        ("h_rx", 3001.0): K.RC_RX_TERMINAL_HEIGHT,
        ("climate", 8): K.RC_INVALID_RADIO_CLIMATE,
        ("n_0", 249.0): K.RC_REFRACTIVITY,
        ("f_mhz", 19.9): K.RC_FREQUENCY,
        ("pol", 2): K.RC_POLARIZATION,
        ("epsilon", 0.5): K.RC_EPSILON,
        ("sigma", 0.0): K.RC_SIGMA,
        ("mdvar", 4): K.RC_MDVAR,
        ("time", 100.0): K.RC_INVALID_TIME,
        ("location", 0.0): K.RC_INVALID_LOCATION,
        ("situation", -1.0): K.RC_INVALID_SITUATION,
    }
    for (key, value), code in cases.items():
        args = {**base, key: value}
        link = K.link_parameters(*args.values())
        assert link[K.LINK_RETURN_CODE] == code, key
        loss, _, rc = K.itm_p2p_tls(z, xi, link, inter)
        assert rc == code, key
        assert math.isnan(loss)
        loss, _, rc = K.itm_area_tls(10.0, 90.0, K.SITING_RANDOM, K.SITING_RANDOM, link, inter)
        assert rc == code, key
        assert math.isnan(loss)


def test_warning_flags_for_short_path_and_low_antenna():
    z = np.full(11, 10.0)
    inter = np.empty(K.N_INTER)
    link = K.link_parameters(0.8, 1.5, 5, 301.0, 900.0, 1, 15.0, 0.005, 1, 50.0, 50.0, 50.0)
    loss, warnings, rc = K.itm_p2p_tls(z, 50.0, link, inter)
    assert rc == K.RC_SUCCESS_WITH_WARNINGS
    assert warnings & K.WARN_TX_TERMINAL_HEIGHT
    assert warnings & K.WARN_PATH_DISTANCE_TOO_SMALL_2
    assert math.isfinite(loss)


def test_delta_h_deciles_match_a_full_sort():
    """The histogram selection replacing std::nth_element gives the same deciles."""
    rng = np.random.default_rng(3)
    scratch = np.empty(2 * 245 + 2 * K.DECILE_BINS)
    for n, k in ((35, 4), (95, 10), (245, 25)):
        for v in (rng.normal(size=n), np.arange(n, dtype=float), np.arange(n, 0, -1.0), np.zeros(n),
                  rng.integers(0, 3, n).astype(float), np.r_[np.zeros(n - 3), 1.0, 2.0, 3.0]):
            largest, smallest = K.deciles(v, n, k, v.min(), v.max(), scratch)
            s = np.sort(v)
            assert largest == s[n - k]
            assert smallest == s[k - 1]


def test_rank_by_count_matches_a_full_sort():
    rng = np.random.default_rng(4)
    for v in (rng.normal(size=40), np.zeros(30), rng.integers(0, 4, 33).astype(float), np.arange(25.0)):
        s = np.sort(v)
        for k in (1, len(v) // 3, len(v)):
            assert K._rank_by_count(v.copy(), len(v), k, True) == s[len(v) - k]
            assert K._rank_by_count(v.copy(), len(v), k, False) == s[k - 1]


def test_rank_about_a_pivot_matches_a_full_sort():
    rng = np.random.default_rng(5)
    rest = np.empty(64)
    for v in (rng.normal(size=40), np.zeros(30), rng.integers(0, 4, 33).astype(float), np.arange(25.0)):
        s = np.sort(v)
        for k in (1, len(v) // 3, len(v)):
            for pivot in (s[0], s[len(v) - k], s[k - 1], s[-1], 0.5, -10.0, 10.0, math.nan):
                assert K._rank_about(v.copy(), len(v), k, True, pivot, rest) == s[len(v) - k]
                assert K._rank_about(v.copy(), len(v), k, False, pivot, rest) == s[k - 1]


@pytest.mark.parametrize("n_int", [60, 300, 2000])
def test_delta_h_with_decile_guesses_equals_delta_h_without(n_int):
    """Any guess of the deciles (good, too wide, too narrow, inverted) gives the same delta_h, exactly."""
    rng = np.random.default_rng(n_int)
    scratch = np.empty(K.DELTA_H_SCRATCH)
    for z in (np.cumsum(rng.normal(0.0, 5.0, n_int + 1)), np.zeros(n_int + 1),
              np.round(rng.normal(0.0, 2.0, n_int + 1)), np.r_[np.zeros(n_int - 2), 300.0, 0.0, 0.0]):
        d_end = n_int * 30.0 - 22.5
        want, q10, q90 = K.compute_delta_h(z, n_int, 30.0, 450.0, d_end, scratch, math.nan, math.nan)
        assert q10 >= q90
        spread = q10 - q90
        for g10, g90 in ((q10, q90), (q10 - 0.05 * spread, q90 + 0.05 * spread), (q10 + 1.0, q90 - 1.0),
                         (q10 + 1e-9, q90), (q10, q90 - 1e-9), (q10 + 0.02 * spread, q90 - 0.02 * spread),
                         (0.0, 0.0), (1e9, -1e9), (-1e9, 1e9), (q90 - spread, q10 + spread)):
            got = K.compute_delta_h(z, n_int, 30.0, 450.0, d_end, scratch, g10, g90)
            assert got == (want, q10, q90)


def test_loss_grows_with_distance_over_flat_ground():
    inter = np.empty(K.N_INTER)
    link = K.link_parameters(30.0, 1.5, 5, 301.0, 900.0, 1, 15.0, 0.005, 2, 50.0, 50.0, 50.0)
    losses = []
    for n_int in range(10, 400, 20):
        z = np.zeros(n_int + 1)
        loss, _, _ = K.itm_p2p_tls(z, 100.0, link, inter)
        losses.append(loss)
    assert np.all(np.diff(losses) > 0)


def test_p2p_stack_scratch_gives_the_delta_h_of_a_heap_scratch():
    """itm_p2p_tls's scratch on its stack: delta_h as with an allocated one, and no state between calls."""
    rng = np.random.default_rng(11)
    link = K.link_parameters(30.0, 1.5, 3, 370.0, 900.0, 1, 15.0, 0.005, 2, 50.0, 50.0, 50.0)
    inter = np.empty(K.N_INTER)
    scratch = np.empty(K.DELTA_H_SCRATCH)
    profiles = [np.cumsum(rng.normal(0.0, 4.0, n + 1)) + 50.0 for n in (20, 99, 400, 3000)]
    first = [K.itm_p2p_tls(z, 30.0, link, inter) for z in profiles]
    for z, want in zip(profiles[::-1], first[::-1]):
        assert K.itm_p2p_tls(z, 30.0, link, inter) == want
        n_int = z.size - 1
        gamma_e, _ = K.effective_curvature(K.profile_mean_height(z, n_int)[0], 370.0)
        _, _, dh_tx, dh_rx = K.find_horizons(z, n_int, 30.0, 1.0 / gamma_e, 30.0, 1.5)
        assert inter[K.INTER_DELTA_H_M] == K.delta_h_of_profile(z, n_int, 30.0, 30.0, 1.5, dh_tx, dh_rx, scratch)


def test_p2p_refuses_a_profile_that_is_not_finite():
    """A NaN or an infinity anywhere (ends, first and last 10 %, middle) is refused, not propagated."""
    link = K.link_parameters(30.0, 1.5, 5, 301.0, 900.0, 1, 15.0, 0.005, 2, 50.0, 50.0, 50.0)
    inter = np.empty(K.N_INTER)
    for n in (2, 3, 40, 101):
        for at in sorted({0, 1, n // 20, n // 2, n - 2, n - 1}):
            for bad in (math.nan, math.inf, -math.inf):
                z = np.linspace(10.0, 50.0, n)
                z[at] = bad
                loss, _, rc = K.itm_p2p_tls(z, 30.0, link, inter)
                assert rc == K.RC_PROFILE_NOT_FINITE and math.isnan(loss), (n, at, bad)
    # finite elevations whose sum overflows
    loss, _, rc = K.itm_p2p_tls(np.full(10, 1e308), 30.0, link, inter)
    assert rc == K.RC_PROFILE_NOT_FINITE and math.isnan(loss)
