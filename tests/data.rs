//! Built-in datasets, splits and the loaders for users' own data.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use strata::data::loaders::{csv, idx_pair, image_folder};
use strata::data::{BUILTIN, DataError, Features, Target, builtin, decode, shapes};

#[test]
fn every_builtin_dataset_decodes() {
    for (id, _) in BUILTIN {
        let d = builtin(id).unwrap();
        assert!(!d.is_empty(), "{id}");
        assert!(d.labels.iter().all(|&l| usize::from(l) < d.classes.len()));
    }
    let m = builtin("mnist_5k").unwrap();
    assert_eq!((m.len(), m.shape.clone()), (5000, vec![1, 28, 28]));
    for c in 0..10u8 {
        assert_eq!(m.labels.iter().filter(|&&l| l == c).count(), 500);
    }
    assert_eq!(builtin("iris").unwrap().len(), 150);
    assert_eq!(builtin("fashion_mnist").unwrap().split(1, 0.2).val.len(), 2000);
}

#[test]
fn splits_are_fixed_by_seed() {
    let d = builtin("wine").unwrap();
    assert_eq!(d.split(7, 0.2), d.split(7, 0.2));
    assert_ne!(d.split(7, 0.2), d.split(8, 0.2));
    let s = d.split(7, 0.2);
    assert_eq!(s.train.len() + s.val.len(), d.len());
}

#[test]
fn padding_centres_the_image() {
    let d = builtin("mnist_5k").unwrap();
    let (x, dims) = d.batch_features(&[0], 2);
    assert_eq!(dims, vec![1, 1, 32, 32]);
    let (y, _) = d.batch_features(&[0], 0);
    assert_eq!(x[2 * 32 + 2..2 * 32 + 30], y[..28]);
    assert!(x[..32].iter().all(|&v| v == 0.0));
}

#[test]
fn shapes_have_masks_matching_their_class() {
    let d = builtin("shapes").unwrap();
    let Target::Masks(m) = &d.target else { panic!() };
    assert_eq!(m.len(), d.len() * 32 * 32);
    for i in 0..10 {
        let mask = &m[i * 1024..(i + 1) * 1024];
        assert!(mask.iter().all(|&v| v == 0 || v == d.labels[i]));
        assert!(mask.iter().filter(|&&v| v > 0).count() > 20);
    }
    assert_eq!(shapes(5, 1), shapes(5, 1));
}

#[test]
fn damaged_files_are_errors() {
    assert!(matches!(decode("x", b"not gzip"), Err(DataError::Corrupt { .. })));
    assert!(matches!(builtin("nope"), Err(DataError::Unknown(_))));
}

#[test]
fn csv_with_header_and_word_labels() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.csv");
    std::fs::write(&p, "a,b,kind\n1,2,cat\n3,4.5,dog\n\n5,6,cat\n").unwrap();
    let d = csv(&p, Some("kind"), false).unwrap();
    assert_eq!(d.shape, vec![2]);
    assert_eq!(d.classes, vec!["cat", "dog"]);
    assert_eq!(d.labels, vec![0, 1, 0]);
    assert_eq!(d.features, Features::F32(vec![1.0, 2.0, 3.0, 4.5, 5.0, 6.0]));
}

#[test]
fn csv_errors_name_file_and_row() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.csv");
    std::fs::write(&p, "x,y,label\n1,2,0\n3,oops,1\n").unwrap();
    let e = csv(&p, None, false).unwrap_err().to_string();
    assert!(
        e.ends_with("bad.csv, row 3: column 'y' holds 'oops', which is not a number"),
        "{e}"
    );
    std::fs::write(&p, "1,2,0\n3,1\n").unwrap();
    let e = csv(&p, None, false).unwrap_err().to_string();
    assert!(e.contains("row 2: expected 3 columns, found 2"), "{e}");
    let e = csv(&p, Some("nope"), false).unwrap_err().to_string();
    assert!(e.contains("no label column 'nope'"), "{e}");
}

#[test]
fn image_folders_become_datasets() {
    let dir = tempfile::tempdir().unwrap();
    for (class, shade) in [("dark", 10u8), ("light", 240u8)] {
        std::fs::create_dir(dir.path().join(class)).unwrap();
        for i in 0..3 {
            let img = image::GrayImage::from_pixel(6, 6, image::Luma([shade]));
            img.save(dir.path().join(class).join(format!("{i}.png"))).unwrap();
        }
    }
    let d = image_folder(dir.path(), Some(4), 1).unwrap();
    assert_eq!(d.shape, vec![1, 4, 4]);
    assert_eq!(d.classes, vec!["dark", "light"]);
    assert_eq!(d.labels, vec![0, 0, 0, 1, 1, 1]);
    let Features::U8(px) = &d.features else { panic!() };
    assert_eq!(px[0], 10);
    assert_eq!(px[px.len() - 1], 240);
    std::fs::write(dir.path().join("dark").join("broken.png"), b"not a png").unwrap();
    let e = image_folder(dir.path(), Some(4), 1).unwrap_err().to_string();
    assert!(e.contains("broken.png: cannot decode the image"), "{e}");
}

#[test]
fn idx_files_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (ip, lp) = (dir.path().join("img.idx"), dir.path().join("lab.idx"));
    let mut img = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2];
    img.extend([1, 2, 3, 4, 5, 6, 7, 8]);
    std::fs::write(&ip, &img).unwrap();
    std::fs::write(&lp, [0, 0, 8, 1, 0, 0, 0, 2, 1, 0]).unwrap();
    let d = idx_pair(&ip, &lp).unwrap();
    assert_eq!((d.len(), d.shape.clone()), (2, vec![1, 2, 2]));
    assert_eq!(d.labels, vec![1, 0]);
    std::fs::write(&lp, [0, 0, 8, 1, 0, 0, 0, 3, 1, 0, 1]).unwrap();
    assert!(
        idx_pair(&ip, &lp)
            .unwrap_err()
            .to_string()
            .contains("expected 2 labels")
    );
    std::fs::write(&ip, [1, 2, 3]).unwrap();
    assert!(idx_pair(&ip, &lp).unwrap_err().to_string().contains("bad magic"));
}

#[test]
fn grey_images_repeat_into_the_channels_asked_for() {
    let mut options = strata::doc::Params::new();
    options.insert("channels".into(), strata::doc::ParamValue::Int(4));
    let d = strata::data::load("mnist_5k", &options, None).unwrap();
    let grey = builtin("mnist_5k").unwrap();
    assert_eq!(d.shape, vec![4, 28, 28]);
    assert_eq!((d.len(), d.labels.clone()), (grey.len(), grey.labels.clone()));
    let (x, dims) = d.batch_features(&[3], 2);
    assert_eq!(dims, vec![1, 4, 32, 32]);
    let (g, _) = grey.batch_features(&[3], 2);
    for c in 0..4 {
        assert_eq!(x[c * 1024..(c + 1) * 1024], g[..], "channel {c}");
    }
    // 0 keeps the images as they are.
    options.insert("channels".into(), strata::doc::ParamValue::Int(0));
    assert_eq!(
        strata::data::load("mnist_5k", &options, None).unwrap().shape,
        vec![1, 28, 28]
    );
}
