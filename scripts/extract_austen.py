#!/usr/bin/env python3
"""Extracts Pride and Prejudice from Debian's r-cran-janeaustenr (an R lazy-load database:
Rdata.rdx lists the objects' offsets, Rdata.rdb holds each as a 4-byte length and a zlib stream
of R's XDR serialisation; the novel is a character vector, one element per line) into
src/data/files/pride_and_prejudice.txt.gz.

    apt-get download r-cran-janeaustenr && dpkg-deb -x r-cran-janeaustenr_*.deb x
    scripts/extract_austen.py x/usr/lib/R/site-library/janeaustenr/data src/data/files/pride_and_prejudice.txt.gz
"""
import gzip
import struct
import sys
import zlib


class R:
    """A reader for the parts of R's XDR serialisation these files use."""

    def __init__(self, b):
        self.b, self.i, self.refs = b, 0, []

    def int(self):
        v = struct.unpack(">i", self.b[self.i:self.i + 4])[0]
        self.i += 4
        return v

    def header(self):
        assert self.b[:2] == b"X\n", "not XDR serialisation"
        self.i = 2
        version = self.int()
        self.int(), self.int()
        if version == 3:
            n = self.int()
            self.i += n

    def item(self):
        flags = self.int()
        t, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
        if t == 254:  # NULL
            return None
        if t == 255:  # reference
            return self.refs[(flags >> 8) - 1]
        if t == 1:  # symbol
            v = self.item()
            self.refs.append(v)
            return v
        if t == 9:  # string
            n = self.int()
            if n == -1:
                return None
            v = self.b[self.i:self.i + n].decode("latin-1")
            self.i += n
            return v
        if t == 2:  # pairlist
            out = []
            while True:
                if has_attr:
                    self.item()
                tag = self.item() if has_tag else None
                out.append((tag, self.item()))
                flags = self.int()
                t, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
                if t == 254:
                    return out
                assert t == 2
        n = self.int()
        if t == 16:  # character vector
            v = [self.item() for _ in range(n)]
        elif t in (10, 13):  # logical, integer
            v = [self.int() for _ in range(n)]
        elif t == 14:  # double
            v = list(struct.unpack(">%dd" % n, self.b[self.i:self.i + 8 * n]))
            self.i += 8 * n
        elif t == 19:  # list
            v = [self.item() for _ in range(n)]
        else:
            raise ValueError("R type %d" % t)
        if has_attr:
            self.item()
        return v


def main(data_dir, out):
    rdx = R(gzip.decompress(open(data_dir + "/Rdata.rdx", "rb").read()))
    rdx.header()
    index = rdx.item()  # [variables (offsets, with names), references, compressed]
    offsets = index[0]
    names = ["emma", "mansfieldpark", "northangerabbey", "persuasion", "prideprejudice", "sensesensibility"]
    off, n = offsets[names.index("prideprejudice")]
    rdb = open(data_dir + "/Rdata.rdb", "rb").read()
    r = R(zlib.decompress(rdb[off + 4:off + n]))
    r.header()
    lines = r.item()
    text = "\n".join(line or "" for line in lines)
    with gzip.GzipFile(out, "wb", compresslevel=9, mtime=0) as f:
        f.write(text.encode("ascii"))
    print("%s: %d characters, %d distinct" % (out, len(text), len(set(text))))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
