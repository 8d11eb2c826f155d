#!/usr/bin/python3
"""Writes the NumPy-made files of tests/data/arrays/ (numpy only).

    /usr/bin/python3 tests/data/gen_arrays.py

Every .npy dtype nabla reads in both byte orders, Fortran order, format
versions 2.0 and 3.0, 0-d and empty arrays, refused types, .npz archives
stored and compressed, two small data sets (a 3-class .npz, a
regression CSV) and CSV spellings; tests/test_arrays.c and
tests/test_data_cli.sh read them.  Deterministic: the same arrays on
every run (a fixed seed, fixed zip timestamps).
"""
import io
import os
import zipfile

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "arrays")


def path(name):
    return os.path.join(OUT, name)


def save_npy(name, a, version=None):
    with open(path(name), "wb") as f:
        if version is None:
            np.save(f, a)
        else:
            np.lib.format.write_array(f, a, version=version)


def npy_bytes(a):
    f = io.BytesIO()
    np.save(f, a)
    return f.getvalue()


def save_zip(name, members, compress):
    """An .npz as numpy.savez writes it, with fixed timestamps."""
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path(name), "w", method) as z:
        for key, data in members:
            info = zipfile.ZipInfo(key, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = method
            z.writestr(info, data)


def ints(dt):
    """3 x 4 values of an integer type, its extremes included."""
    info = np.iinfo(np.dtype(dt))
    v = np.arange(12, dtype=np.int64).reshape(3, 4) - (5 if info.min < 0 else 0)
    a = v.astype(dt)
    a[0, 0] = info.min
    a[2, 3] = info.max if info.max <= 2**63 - 1 else 2**63 - 1
    return a


def main():
    os.makedirs(OUT, exist_ok=True)
    floats = (np.arange(12).reshape(3, 4) - 5.5) / 4
    for order in "<>":
        for dt in ("f4", "f8"):
            save_npy("%s_%s.npy" % (dt, "le" if order == "<" else "be"),
                     floats.astype(order + dt))
        for dt in ("i2", "i4", "i8", "u2", "u4", "u8"):
            save_npy("%s_%s.npy" % (dt, "le" if order == "<" else "be"),
                     ints(order + dt))
    save_npy("i1.npy", ints("|i1"))
    save_npy("u1.npy", ints("|u1"))
    save_npy("b1.npy", np.array([[True, False, True], [False, False, True]]))
    save_npy("fortran_f8.npy",
             np.asfortranarray(np.arange(24, dtype="<f8").reshape(2, 3, 4)))
    save_npy("fortran_i4.npy",
             np.asfortranarray(np.arange(6, dtype="<i4").reshape(2, 3)))
    save_npy("v2_f4.npy", floats.astype("<f4"), version=(2, 0))
    save_npy("v3_f8.npy", floats.astype("<f8"), version=(3, 0))
    save_npy("scalar_f8.npy", np.array(3.5))
    save_npy("empty_f4.npy", np.zeros((0, 3), dtype="<f4"))
    save_npy("rank1_i8.npy", np.arange(5, dtype="<i8"))
    # Refused: float16, complex, a uint64 above int64's largest value.
    save_npy("f2.npy", np.ones(3, dtype="<f2"))
    save_npy("c8.npy", np.ones(3, dtype="<c8"))
    save_npy("u8_big.npy", np.array([1, 2**63 + 5], dtype="<u8"))

    arrays = [("a.npy", npy_bytes(floats.astype("<f8"))),
              ("b.npy", npy_bytes(ints("<i4"))),
              ("c.npy", npy_bytes(np.array([True, False])))]
    save_zip("three.npz", arrays, False)
    save_zip("three_z.npz", arrays, True)
    save_zip("readme.npz", arrays[:1] + [("readme.txt", b"not an array\n")],
             False)
    # A CRC error: one byte of a stored member's data changed.
    raw = bytearray(open(path("three.npz"), "rb").read())
    at = raw.index(b"\x93NUMPY") + 200
    raw[at] ^= 0x55
    with open(path("crc.npz"), "wb") as f:
        f.write(raw)
    # As numpy writes them (savez, savez_compressed), for the reader.
    np.savez(path("np_savez.npz"), x=floats.astype("<f4"),
             y=np.arange(3, dtype="<i8"))
    np.savez_compressed(path("np_savez_z.npz"), x=floats.astype("<f8"),
                        y=np.array([0.5, 1.5, 2.5]))

    # A 3-class data set: clusters 4 standard deviations apart.
    rng = np.random.default_rng(16)
    means = np.array([[4, 0, 0, 0], [0, 4, 0, 0], [0, 0, 4, 0]], dtype=float)

    def blobs(n):
        y = rng.integers(0, 3, n)
        return (means[y] + rng.normal(size=(n, 4))).astype("<f4"), y.astype("|i1")

    x, y = blobs(240)
    xt, yt = blobs(90)
    np.savez_compressed(path("blobs.npz"), x=x, y=y, x_test=xt, y_test=yt)
    np.savez(path("blobs_notest.npz"), x=x, y=y)
    np.savez(path("no_y.npz"), x=x)
    np.savez(path("rows_differ.npz"), x=x, y=y[:-1])
    big = y.astype("<i8")
    big[7] = 5
    np.savez(path("label_range.npz"), x=x, y=big)
    xn = x.copy()
    xn[3, 2] = np.nan
    np.savez(path("nan_x.npz"), x=xn, y=y)

    # A binary set for --loss bce: float 0/1 targets.
    xb = rng.normal(size=(160, 3)).astype("<f4")
    yb = (xb[:, 0] + xb[:, 1] > 0).astype("<f4")
    np.savez(path("binary.npz"), x=xb, y=yb)

    # A regression CSV: y = 2 a - 3 b + 0.5 c + 1 + noise.
    xr = rng.normal(size=(160, 3))
    yr = xr @ np.array([2.0, -3.0, 0.5]) + 1 + 0.05 * rng.normal(size=160)
    np.savetxt(path("regress.csv"), np.column_stack([xr, yr]), fmt="%.5f",
               delimiter=",", header="a,b,c,target", comments="")
    # A classification CSV (labels in the first column).
    np.savetxt(path("blobs.csv"), np.column_stack([y, x]), fmt="%.5g",
               delimiter=",", header="label,f0,f1,f2,f3", comments="")

    # CSV spellings and errors.
    def text(name, s):
        with open(path(name), "wb") as f:
            f.write(s.encode())
    text("crlf.csv", "a,b\r\n1,2\r\n3,4\r\n")
    text("no_newline.csv", "a,b\n1,2\n3,4")
    text("quoted.csv", '"x, first","y ""second"""\n"1.5",2\n3,"-4e2"\n')
    text("special.csv", "p,q,r\nnan,inf,-inf\nNaN,Infinity,-Infinity\n"
         ",+1,  7 \n")
    text("bom_blank.csv", "\ufeffa,b\n\n1,2\n\n3,4\n\n")
    text("bad_cell.csv", "a,b,c\n1,2,3\n4,five,6\n")
    text("ragged.csv", "a,b,c\n1,2,3\n4,5\n")
    text("long_row.csv", "a,b\n1,2\n3,4,5\n")
    text("open_quote.csv", 'a,b\n1,"2\n')


if __name__ == "__main__":
    main()
