"""covgap.propagation: scenario keys, site validation, metric conversion and the signal layers."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from affine import Affine
from rasterio.crs import CRS

from covgap import propagation
from covgap.errors import CovgapWarning, ScenarioError, SiteError
from covgap.grid import AnalysisGrid
from covgap.propagation import PropagationConfig, metric_offset_db, resolve_model, signal_layers

RES = 100.0


def elevation(shape=(61, 61), value=10.0):
    grid = AnalysisGrid(CRS.from_epsg(32649), Affine(RES, 0, 800000.0, 0, -RES, 1780000.0), shape[1], shape[0])
    return grid.dataarray(np.full(shape, value, np.float32), "elevation", "m", "elevation")


def site_table(elev, cells, **overrides):
    """One transmitter per (row, col) cell centre; columns as covgap.datasets.sites.read_sites plus x, y."""
    x, y = (np.asarray(v) for v in elev.rio.transform() * (np.array([c for _, c in cells]) + 0.5,
                                                             np.array([r for r, _ in cells]) + 0.5))
    n = len(cells)
    table = pd.DataFrame({
        "site_id": [f"S{i}" for i in range(n)], "operator": "A", "lon": 108.0, "lat": 16.0,
        "height_m": 30.0, "tech": "4G", "freq_mhz": 900.0, "eirp_dbm": 60.0, "azimuth_deg": np.nan,
        "beamwidth_deg": np.nan, "tilt_deg": 0.0, "model": "", "x": x, "y": y,
    })
    for key, value in overrides.items():
        table[key] = value
    return table


FLAT = PropagationConfig.from_mapping({"max_radius_km": 2.5, "antenna": {"sidelobe_db": 0.0}})


def test_defaults_and_keys():
    config = PropagationConfig.from_mapping({})
    assert (config.receiver_height_m, config.k_factor, config.max_radius_km) == (1.5, 4.0 / 3.0, 20.0)
    assert (config.model, config.environment, config.diffraction) == ("auto", "suburban", "bullington")
    config = PropagationConfig.from_mapping({"models": {"2G": "hata"}, "diffraction": "deygout",
                                             "power": {"4G": {"bandwidth_mhz": 10}}})
    assert config.model_for("2G") == "hata" and config.model_for("4G") == "auto"
    assert config.model_for("2G", "free_space") == "free_space"


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ({"modle": "hata"}, "unknown key 'modle'"),
        ({"model": "okumura"}, "'model' = 'okumura'; allowed: auto, free_space"),
        ({"k_factor": 0.0}, "'k_factor' = 0.0; allowed"),
        ({"receiver_height_m": "tall"}, "'receiver_height_m'"),
        ({"models": {"6G": "hata"}}, "unknown key '6G'"),
        ({"antenna": {"gain": 3}}, "unknown key 'gain'"),
        ({"power": {"4G": {"bandwidth_mhz": 7.0}}}, r"power.4G: bandwidth_mhz = 7; allowed: 1.4, 3, 5"),
        ({"power": {"5G": {"scs_khz": 60, "bandwidth_mhz": 5}}}, "bandwidth_mhz = 5 at 60 kHz"),
    ],
)
def test_bad_scenario_values_name_the_key(table, match):
    with pytest.raises(ScenarioError, match=match):
        PropagationConfig.from_mapping(table, where="x.toml: [propagation]")


def test_itm_unavailable_is_a_scenario_error(monkeypatch):
    monkeypatch.setattr(propagation, "_itm_module", lambda: None)
    with pytest.raises(ScenarioError, match="model 'itm' not available"):
        PropagationConfig.from_mapping({"models": {"4G": "itm"}})


def test_metric_offsets():
    config = PropagationConfig()
    assert metric_offset_db("2G", config) == 0.0  # RxLev: BCCH carrier at full power
    assert metric_offset_db("3G", config) == -10.0  # RSCP: CPICH at 10 % of the carrier
    assert metric_offset_db("4G", config) == pytest.approx(-10 * math.log10(12 * 100))  # 20 MHz, 1200 subcarriers
    assert metric_offset_db("5G", config) == pytest.approx(-10 * math.log10(12 * 273))  # 100 MHz at 30 kHz


@pytest.mark.parametrize(("freq", "env", "model"), [(900.0, "suburban", "hata"), (1800.0, "urban", "cost231"),
                                                    (3500.0, "urban", "uma"), (2100.0, "rural", "rma")])
def test_auto_model_by_band(freq, env, model):
    assert resolve_model("auto", freq, env) == model


def test_layers_match_the_contract():
    elev = elevation()
    sites = site_table(elev, [(30, 20), (30, 40)], tech=["4G", "2G"])
    ds = signal_layers(elev, sites, FLAT)
    for tech in ("2G", "4G"):
        for name, dtype, units in (("received_power", np.float32, "dBm"), ("best_server", np.int32, "1"),
                                   ("second_power", np.float32, "dBm"), ("dominance", np.float32, "dB")):
            da = ds[f"{name}_{tech}"]
            assert da.dtype == dtype and da.attrs["units"] == units and da.attrs["long_name"]
            assert da.dims == ("y", "x")
            np.testing.assert_array_equal(da["x"], elev["x"])
            np.testing.assert_array_equal(da["y"], elev["y"])
            assert da.rio.crs == elev.rio.crs
    assert "received_power_3G" not in ds
    assert ds["best_server_4G"].values[30, 20] == 0 and ds["best_server_2G"].values[30, 40] == 1
    # beyond the 2.5 km radius nothing reaches: NaN power, -1 server
    assert np.isnan(ds["received_power_4G"].values[30, 50]) and ds["best_server_4G"].values[30, 50] == -1


def test_received_power_worked_by_hand():
    # free space, omni, vertical pattern off (sidelobe_db = 0): 10 cells east = 1000 m.
    # RSRP = 60 dBm - 10 log10(1200) - L_fs(900 MHz, 1 km) = 60 - 30.792 - 91.533 = -62.325 dBm
    elev = elevation()
    config = PropagationConfig.from_mapping({"model": "free_space", "max_radius_km": 2.5,
                                             "antenna": {"sidelobe_db": 0.0}})
    ds = signal_layers(elev, site_table(elev, [(30, 30)]), config)
    assert ds["received_power_4G"].values[30, 40] == pytest.approx(-62.325, abs=0.01)
    assert np.isnan(ds["second_power_4G"].values[30, 40])
    assert ds["dominance_4G"].values[30, 40] == pytest.approx(60.0)  # no other server: the cap


def test_best_server_second_and_dominance():
    elev = elevation()
    ds = signal_layers(elev, site_table(elev, [(30, 20), (30, 40)]), FLAT)
    best = ds["best_server_4G"].values
    assert (best[:, :30] == 0).all() and (best[:, 31:] == 1).all() or (best[30, 25] == 0 and best[30, 35] == 1)
    # half-way between two equal sites: dominance ~ 0 dB, second ~ best
    assert abs(float(ds["dominance_4G"].values[30, 30])) < 0.01
    assert float(ds["second_power_4G"].values[30, 30]) == pytest.approx(float(ds["received_power_4G"].values[30, 30]))
    p_near = ds["received_power_4G"].values[30, 22]
    dom = ds["dominance_4G"].values[30, 22]
    second = ds["second_power_4G"].values[30, 22]
    assert dom == pytest.approx(p_near - second, abs=1e-3)


def test_sectors_cover_their_own_side():
    elev = elevation()
    sites = site_table(elev, [(30, 30), (30, 30)], azimuth_deg=[90.0, 270.0], beamwidth_deg=65.0)
    ds = signal_layers(elev, sites, FLAT)
    assert ds["best_server_4G"].values[30, 45] == 0 and ds["best_server_4G"].values[30, 15] == 1
    # behind a sector its own signal is 25 dB (front-to-back) down: the other sector dominates
    assert ds["dominance_4G"].values[30, 45] > 20.0


def test_a_ridge_costs_diffraction_loss_and_deygout_runs():
    elev = elevation()
    elev.values[:, 35] = 150.0
    sites = site_table(elev, [(30, 30)])
    plain = signal_layers(elev, sites, PropagationConfig.from_mapping({"max_radius_km": 2.5, "diffraction": "none"}))
    bull = signal_layers(elev, sites, PropagationConfig.from_mapping({"max_radius_km": 2.5}))
    deyg = signal_layers(elev, sites, PropagationConfig.from_mapping({"max_radius_km": 2.5, "diffraction": "deygout"}))
    behind = (30, 45)
    assert bull["received_power_4G"].values[behind] < plain["received_power_4G"].values[behind] - 6.0
    assert deyg["received_power_4G"].values[behind] < plain["received_power_4G"].values[behind] - 6.0
    assert bull["received_power_4G"].values[30, 25] == plain["received_power_4G"].values[30, 25]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"height_m": 0.0}, "height_m"),
        ({"height_m": np.nan}, "height_m"),
        ({"freq_mhz": 2100.0, "model": "hata"}, "freq_mhz"),
        ({"freq_mhz": 100.0}, "freq_mhz"),
        ({"x": np.nan}, "lon/lat"),
        ({"x": 0.0}, "lon/lat"),
        ({"beamwidth_deg": 0.0, "azimuth_deg": 90.0}, "beamwidth_deg"),
        ({"beamwidth_deg": 65.0, "azimuth_deg": np.nan}, "azimuth_deg"),
        ({"eirp_dbm": np.nan}, "eirp_dbm"),
        ({"tech": "6G"}, "tech"),
        ({"model": "okumura"}, "model"),
    ],
)
def test_bad_sites_raise_naming_site_and_field(overrides, field):
    elev = elevation()
    sites = site_table(elev, [(30, 30), (10, 10)])
    for key, value in overrides.items():
        sites.loc[1, key] = value
    with pytest.raises(SiteError, match=rf"site 'S1' \(row 1\): {field}"):
        signal_layers(elev, sites, FLAT)


def test_nodata_around_a_site():
    elev = elevation()
    elev.values[:25, :25] = np.nan
    with pytest.raises(SiteError, match=r"site 'S0' \(row 0\): lon/lat has no valid elevation within 1000 m"):
        signal_layers(elev, site_table(elev, [(5, 5)]), FLAT)
    elev.values[:] = 10.0
    elev.values[30, 30] = np.nan  # only the site's own cell: ground from its neighbours, one warning
    with pytest.warns(CovgapWarning, match="1 transmitter\\(s\\) stand on a nodata DEM cell"):
        ds = signal_layers(elev, site_table(elev, [(30, 30)]), FLAT)
    assert np.isnan(ds["received_power_4G"].values[30, 30])
    assert np.isfinite(ds["received_power_4G"].values[30, 31])


def test_validity_warnings_are_counted_once_per_run():
    elev = elevation()
    sites = site_table(elev, [(20, 20), (30, 30), (40, 40)], height_m=20.0)  # Hata is fitted for 30-200 m
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        signal_layers(elev, sites, FLAT)
    messages = [str(w.message) for w in caught if issubclass(w.category, CovgapWarning)]
    assert messages == ["3 transmitter(s) have height_m outside model 'hata''s 30-200 m (sites 'S0', 'S1', 'S2'); "
                        "results are extrapolated"]


def test_itm_sites_are_dispatched_to_covgap_itm():
    elev = elevation((41, 41))
    config = PropagationConfig.from_mapping({"max_radius_km": 1.5, "models": {"4G": "itm"}})
    ds = signal_layers(elev, site_table(elev, [(20, 20)]), config)
    power = ds["received_power_4G"].values
    assert np.isfinite(power[20, 30]) and ds["best_server_4G"].values[20, 30] == 0
    assert power[20, 25] > power[20, 35]


def test_groups_sweep_once_and_merge_exactly_into_the_union():
    # A bumpy terrain and six transmitters of three operators, overlapping.
    rows, cols = np.indices((61, 61))
    elev = elevation()
    elev.values[:] = (10 + 40 * np.sin(rows / 6.0) * np.cos(cols / 9.0)).astype(np.float32)
    cells = [(10, 10), (12, 40), (30, 30), (45, 12), (50, 50), (31, 29)]
    sites = site_table(elev, cells, operator=["A", "B", "C", "A", "B", "C"], tech=["4G", "4G", "4G", "4G", "2G", "4G"])
    union, groups = propagation.signal_layers_by_group(elev, sites, FLAT, by="operator")
    alone = signal_layers(elev, sites, FLAT)
    assert sorted(groups) == ["A", "B", "C"]
    for name in alone.data_vars:
        np.testing.assert_allclose(union[name].values, alone[name].values, rtol=0, atol=1e-4, err_msg=str(name))
    for op, ds in groups.items():
        own = sites[sites["operator"] == op]
        subset = signal_layers(elev, own.reset_index(drop=True), FLAT)
        for name in subset.data_vars:
            expected = subset[name].values
            if str(name).startswith("best_server"):
                # Server indices stay row positions of the whole table.
                expected = np.where(expected >= 0, own.index.to_numpy()[np.maximum(expected, 0)], -1)
            np.testing.assert_allclose(ds[name].values, expected, rtol=0, atol=1e-4, err_msg=f"{op} {name}")
    # Operator A has no 2G: its 2G layers say nobody is served.
    assert np.isnan(groups["A"]["received_power_2G"].values).all()
