"""3GPP TR 38.901 Table 7.3-1 element pattern, with worked values."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from covgap.kernels.antenna import antenna_gain_db, atan2_deg, cos_deg, wrap_degrees

# sector defaults of covgap.propagation: 65 deg h-beamwidth, 25 dB front-to-back, 10 deg v-beamwidth,
# 20 dB vertical side lobes, 17 dBi
SECTOR = dict(omni=False, h_beamwidth_deg=65.0, front_to_back_db=25.0, v_beamwidth_deg=10.0, sidelobe_db=20.0,
              mech_tilt_deg=0.0, elec_tilt_deg=0.0, gain_dbi=17.0)


def gain(off_az, depression, **kw):
    args = {**SECTOR, **kw}
    return antenna_gain_db(off_az, depression, args["omni"], args["h_beamwidth_deg"], args["front_to_back_db"],
                           args["v_beamwidth_deg"], args["sidelobe_db"], args["mech_tilt_deg"],
                           args["elec_tilt_deg"], args["gain_dbi"])


def test_boresight_is_the_maximum_gain():
    assert gain(0.0, 0.0) == pytest.approx(17.0)


# A_H(phi) = -min(12 (phi / 65)^2, 25): half beamwidth 32.5 deg -> 12 * 0.25 = 3 dB;
# 60 deg -> 12 * (60/65)^2 = 10.225 dB; behind (180 deg) -> 12 * 7.669 = 92 -> capped at 25 dB
@pytest.mark.parametrize(("phi", "expected"), [(32.5, 14.0), (-32.5, 14.0), (60.0, 6.775), (180.0, -8.0),
                                               (400.0, 17.0 - 12 * (40 / 65) ** 2)])
def test_horizontal_pattern(phi, expected):
    assert gain(phi, 0.0) == pytest.approx(expected, abs=1e-3)


# A_V = -min(12 ((theta - 90 - tilt) / 10)^2, 20): 5 deg below a 0 deg tilt -> 3 dB;
# with 6 deg electrical downtilt, boresight is 6 deg below the horizon.
def test_vertical_pattern_and_electrical_tilt():
    assert gain(0.0, 5.0) == pytest.approx(14.0)
    assert gain(0.0, 6.0, elec_tilt_deg=6.0) == pytest.approx(17.0)
    assert gain(0.0, 40.0) == pytest.approx(17.0 - 20.0)  # side-lobe floor


def test_mechanical_tilt_lowers_the_front_and_raises_the_back():
    # tilt seen at azimuth phi is mech * cos(phi): 4 deg in front, -4 deg behind, 0 deg at the sides
    assert gain(0.0, 4.0, mech_tilt_deg=4.0) == pytest.approx(17.0)
    # at phi = 120 deg the tilt is 4 cos(120) = -2 deg: a direction 2 deg above the horizon is on the beam axis
    behind = 17.0 - 12 * (120 / 65) ** 2
    assert gain(120.0, -2.0, mech_tilt_deg=4.0, front_to_back_db=60.0) == pytest.approx(behind)
    assert gain(120.0, 2.0, mech_tilt_deg=4.0, front_to_back_db=60.0) == pytest.approx(behind - 12 * 0.4**2)
    assert gain(90.0, 0.0, mech_tilt_deg=4.0) == pytest.approx(gain(90.0, 0.0))


def test_combined_attenuation_is_capped_by_front_to_back():
    # A = -min(-(A_V + A_H), A_m): 20 dB vertical + 25 dB horizontal -> capped at 25 dB
    assert gain(180.0, 60.0) == pytest.approx(17.0 - 25.0)


def test_omni_has_no_horizontal_pattern():
    for phi in (0.0, 90.0, 180.0, -135.0):
        assert gain(phi, 5.0, omni=True) == pytest.approx(14.0)


@settings(deadline=None)  # the first call loads the JIT cache: no timing asserts
@given(st.floats(-2000, 2000))
def test_wrap_degrees(angle):
    w = wrap_degrees(angle)
    assert -180.0 <= w < 180.0
    assert math.isclose(math.cos(math.radians(w)), math.cos(math.radians(angle)), abs_tol=1e-9)


@settings(deadline=None)
@given(st.floats(-1e4, 1e4), st.floats(-1e4, 1e4))
def test_fast_atan2_is_within_a_thousandth_of_a_degree(y, x):
    assert abs(atan2_deg(y, x) - math.degrees(math.atan2(y, x))) < 1e-3 or (y == 0.0 and x <= 0.0)


@settings(deadline=None)
@given(st.floats(-180.0, 180.0))
def test_fast_cosine_is_within_1e8(angle):
    assert abs(cos_deg(angle) - math.cos(math.radians(angle))) < 1e-8
