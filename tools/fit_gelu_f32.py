#!/usr/bin/python3
"""fit_gelu_f32.py - the coefficients of lib/ops/gelu_f32.h.

R(a) = Q(a) exp(a^2 / 2), Q(a) = erfc(a / sqrt 2) / 2, as N(a) / D(a),
degrees 4 and 5, D(0) = 1, for relative error on [0, 15]; and
e^(v / 2) for v in [-0.904, 0.696] as a degree-6 polynomial, for
relative error.  Both are weighted least squares on linearized errors
(Lawson's reweighting towards minimax), with each coefficient rounded to
float32 in turn and the rest refitted.  Needs numpy and mpmath
(Debian: python3-numpy, python3-mpmath; neither is needed to build or
test nabla):
    /usr/bin/python3 tools/fit_gelu_f32.py
"""
import numpy as np
import mpmath as mp

mp.mp.dps = 40


def lawson(basis, rhs, scale, fixed, iters):
    """Coefficients c minimizing max |basis @ c - rhs| / scale, with the
    entries in fixed held; returns c and the max relative error."""
    n, k = basis.shape
    free = [i for i in range(k) if i not in fixed]
    w = np.ones(n)
    for _ in range(iters):
        b = rhs.copy()
        for i, v in fixed.items():
            b -= basis[:, i] * v
        s = np.sqrt(w) / scale
        cf, *_ = np.linalg.lstsq(basis[:, free] * s[:, None], b * s,
                                 rcond=None)
        c = np.zeros(k)
        c[free] = cf
        for i, v in fixed.items():
            c[i] = v
        e = np.abs(basis @ c - rhs) / scale
        w = w * (e / e.max() + 1e-3)
        w /= w.sum()
    return c, e.max()


def fit_rational(A=15.0, m=4, k=5, n=3000):
    a = A * (1 - np.cos(np.linspace(0, np.pi, n))) / 2
    R = np.array([float(mp.erfc(mp.mpf(x) / mp.sqrt(2)) / 2 *
                        mp.exp(mp.mpf(x) ** 2 / 2)) for x in a])
    # N(a) - R (D(a) - 1) = R, weighted by 1 / (R D) with D from the
    # previous step (Sanathanan-Koerner), and Lawson's weights
    basis = np.hstack([a[:, None] ** np.arange(m + 1),
                       -R[:, None] * a[:, None] ** np.arange(1, k + 1)])
    fixed = {}

    def fit(iters=60):
        free = [i for i in range(m + 1 + k) if i not in fixed]
        D = np.ones_like(a)
        w = np.ones_like(a)
        for _ in range(iters):
            s = np.sqrt(w) / (R * D)
            b = R.copy()
            for i, v in fixed.items():
                b -= basis[:, i] * v
            cf, *_ = np.linalg.lstsq(basis[:, free] * s[:, None], b * s,
                                     rcond=None)
            c = np.zeros(m + 1 + k)
            c[free] = cf
            for i, v in fixed.items():
                c[i] = v
            Nv = np.polyval(c[:m + 1][::-1], a)
            D = np.polyval(np.concatenate([[1.0], c[m + 1:]])[::-1], a)
            e = np.abs(Nv / D / R - 1)
            w = w * (e / e.max() + 1e-3)
            w /= w.sum()
        return c, e.max()

    order = [0] + list(range(m + k, m, -1)) + list(range(m, 0, -1))
    for i in order:
        c, _ = fit()
        fixed[i] = float(np.float32(c[i]))
    c, e = fit(1)
    return c[:m + 1], np.concatenate([[1.0], c[m + 1:]]), e


def fit_exp(lo=-0.904, hi=0.696, deg=6, n=4000):
    v = lo + (hi - lo) * (1 - np.cos(np.linspace(0, np.pi, n))) / 2
    f = np.exp(v / 2)
    basis = v[:, None] ** np.arange(deg + 1)
    fixed = {}
    for i in range(deg + 1):
        c, _ = lawson(basis, f, f, fixed, 80)
        fixed[i] = float(np.float32(c[i]))
    return lawson(basis, f, f, fixed, 1)


if __name__ == "__main__":
    num, den, e = fit_rational()
    print("R: max relative error %.3g" % e)
    print("  N (a^0 up):", ", ".join("%.9g" % x for x in num))
    print("  D (a^0 up):", ", ".join("%.9g" % x for x in den))
    c, e = fit_exp()
    print("e^(v/2): max relative error %.3g" % e)
    print("  (v^0 up):", ", ".join("%.9g" % x for x in c))
