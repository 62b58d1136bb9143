"""Base-station antenna pattern: the element pattern of 3GPP TR 38.901 Table 7.3-1.

With theta the zenith angle and phi the azimuth off boresight (degrees)::

    A_V = -min(12 ((theta - 90 - tilt) / theta_3dB)^2, SLA_V)
    A_H = -min(12 (phi / phi_3dB)^2, A_m)
    G   = G_max - min(-(A_V + A_H), A_m)

38.901 fixes theta_3dB = phi_3dB = 65 deg, SLA_V = 30 dB, A_m = 30 dB and
G_max = 8 dBi for one element; here they are parameters so that a whole
sector panel (narrow vertical beam, its own front-to-back ratio) is
described the same way. Downtilt is ``electrical + mechanical * cos(phi)``:
mechanical tilt leans the whole antenna, so it lowers the beam in front and
raises it behind. An omni antenna has no horizontal term.

:func:`atan2_deg`, :func:`cos_deg` and :func:`gain_db`, evaluated for
every cell of a sweep, are compiled with
:data:`covgap.kernels.jit.fm_cell_jit`: their polynomials may use fused
multiply-adds, which changes results in the last bits only (the gain by
less than 1e-12 dB).
"""

from covgap.kernels.jit import fm_cell_jit, ngjit


@ngjit
def wrap_degrees(angle):
    """Wrap an angle in degrees to [-180, 180)."""
    while angle >= 180.0:
        angle -= 360.0
    while angle < -180.0:
        angle += 360.0
    return angle


@fm_cell_jit
def atan2_deg(y, x):
    """``degrees(atan2(y, x))`` within 0.0006 degrees, without a libm call.

    Abramowitz & Stegun 4.4.49: atan(a) for |a| <= 1 as an odd polynomial
    of degree 9 with |error| <= 1e-5 rad, extended by octant symmetry.
    """
    ax = abs(x)
    ay = abs(y)
    big = max(ax, ay)
    if big == 0.0:
        return 0.0
    a = min(ax, ay) / big
    s = a * a
    r = a * (0.9998660 + s * (-0.3302995 + s * (0.1801410 + s * (-0.0851330 + s * 0.0208351))))
    if ay > ax:
        r = 1.5707963267948966 - r
    if x < 0.0:
        r = 3.141592653589793 - r
    if y < 0.0:
        r = -r
    return r * 57.29577951308232


@fm_cell_jit
def cos_deg(angle):
    """``cos(radians(angle))`` for angle in [-180, 180], within 1e-8, without a libm call.

    Folded to t in [0, 90] degrees (cos(180 - t) = -cos t), then the Taylor
    series of cos to t^12: the remainder is below (pi/2)^14 / 14! = 6.4e-9.
    """
    a = abs(angle)
    sign = 1.0
    if a > 90.0:
        a = 180.0 - a
        sign = -1.0
    t = a * 0.017453292519943295
    s = t * t
    c = 1.0 + s * (-1.0 / 2.0 + s * (1.0 / 24.0 + s * (-1.0 / 720.0 + s * (1.0 / 40320.0 + s * (
        -1.0 / 3628800.0 + s * (1.0 / 479001600.0))))))
    return sign * c


@ngjit
def antenna_gain_db(
    off_azimuth_deg,
    depression_deg,
    omni,
    h_beamwidth_deg,
    front_to_back_db,
    v_beamwidth_deg,
    sidelobe_db,
    mech_tilt_deg,
    elec_tilt_deg,
    gain_dbi,
):
    """Gain (dBi) towards a direction, TR 38.901 Table 7.3-1 element form.

    Parameters
    ----------
    off_azimuth_deg : float
        Azimuth of the direction minus the antenna azimuth (degrees, any range).
    depression_deg : float
        Angle of the direction below the horizontal (degrees; 90 - theta).
    omni : bool
        True for an omnidirectional antenna (no horizontal pattern).
    h_beamwidth_deg, v_beamwidth_deg : float
        Horizontal and vertical 3 dB beamwidths (degrees, > 0).
    front_to_back_db : float
        Maximum attenuation A_m (dB), also the floor of the combined pattern.
    sidelobe_db : float
        Vertical side-lobe level SLA_V (dB).
    mech_tilt_deg, elec_tilt_deg : float
        Mechanical and electrical downtilt (degrees, positive down).
    gain_dbi : float
        Boresight gain G_max (dBi).
    """
    return gain_db(off_azimuth_deg, depression_deg, omni, 1.0 / h_beamwidth_deg, front_to_back_db,
                   1.0 / v_beamwidth_deg, sidelobe_db, mech_tilt_deg, elec_tilt_deg, gain_dbi)


@fm_cell_jit
def gain_db(off_azimuth_deg, depression_deg, omni, inv_h_beamwidth, front_to_back_db, inv_v_beamwidth, sidelobe_db,
            mech_tilt_deg, elec_tilt_deg, gain_dbi):
    """:func:`antenna_gain_db` with reciprocal beamwidths (1/degree), for sweeps that evaluate one antenna per cell."""
    if omni:
        tilt = elec_tilt_deg + mech_tilt_deg
        a_h = 0.0
    else:
        phi = wrap_degrees(off_azimuth_deg)
        tilt = elec_tilt_deg
        if mech_tilt_deg != 0.0:
            tilt += mech_tilt_deg * cos_deg(phi)
        x = phi * inv_h_beamwidth
        a_h = min(12.0 * x * x, front_to_back_db)
    y = (depression_deg - tilt) * inv_v_beamwidth
    a_v = min(12.0 * y * y, sidelobe_db)
    return gain_dbi - min(a_v + a_h, front_to_back_db)
