//! safetensors round trips for every dtype, and clear errors for broken files.

use std::collections::HashMap;
use tensor::safetensors_io::{load, save, SafetensorsFile};
use tensor::{DType, Device, Rng, Tensor};

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lawcat-st-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn round_trip_every_dtype_and_views() {
    let mut rng = Rng::new(1);
    let f = Tensor::randn([3, 5], 1.0, DType::F32, &Device::Cpu, &mut rng).unwrap();
    let tensors = vec![
        ("f32", f.clone()),
        ("f32_transposed_view", f.t().unwrap()),
        ("f64", Tensor::randn([4], 1.0, DType::F64, &Device::Cpu, &mut rng).unwrap()),
        ("bf16", Tensor::randn([2, 2, 2], 1.0, DType::BF16, &Device::Cpu, &mut rng).unwrap()),
        ("f16", Tensor::randn([7], 1.0, DType::F16, &Device::Cpu, &mut rng).unwrap()),
        ("i64", Tensor::from_vec(vec![0i64, -5, 1 << 40], 3, &Device::Cpu).unwrap()),
        ("u8", Tensor::from_vec(vec![0u8, 1, 255], 3, &Device::Cpu).unwrap()),
        ("scalar", Tensor::scalar(2.5, DType::F32, &Device::Cpu).unwrap()),
        ("empty", Tensor::zeros([0, 3], DType::F32, &Device::Cpu).unwrap()),
    ];
    let path = tmp("all.safetensors");
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    save(tensors.iter().map(|(n, t)| (*n, t)), Some(meta), &path).unwrap();
    let file = SafetensorsFile::open(&path).unwrap();
    assert_eq!(file.metadata().get("format").map(String::as_str), Some("pt"));
    assert_eq!(file.info("bf16").unwrap(), (vec![2, 2, 2], DType::BF16));
    let back = load(&path).unwrap();
    for (name, t) in &tensors {
        let b = &back[*name];
        assert_eq!(b.dims(), t.dims(), "{name}");
        assert_eq!(b.dtype(), t.dtype(), "{name}");
        assert_eq!(b.to_cpu_storage().unwrap(), t.to_cpu_storage().unwrap(), "{name}");
    }
}

#[test]
fn saving_is_atomic_and_leaves_no_temp_file() {
    let dir = tmp("atomic-dir");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("atomic.safetensors");
    let t = Tensor::ones([2], DType::F32, &Device::Cpu).unwrap();
    save([("a", &t)], None, &path).unwrap();
    save([("b", &t)], None, &path).unwrap();
    assert_eq!(SafetensorsFile::open(&path).unwrap().names(), vec!["b"]);
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

fn err_of(path: &std::path::Path) -> String {
    match SafetensorsFile::open(path).and_then(|f| f.load_all()) {
        Ok(_) => panic!("{} should not load", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn truncated_corrupt_and_mismatched_files_are_clear_errors() {
    let path = tmp("good.safetensors");
    let t = Tensor::randn([4, 4], 1.0, DType::F32, &Device::Cpu, &mut Rng::new(2)).unwrap();
    save([("w", &t)], None, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();

    let trunc = tmp("truncated.safetensors");
    std::fs::write(&trunc, &bytes[..bytes.len() - 10]).unwrap();
    let e = err_of(&trunc);
    assert!(
        e.contains("truncated.safetensors") && e.contains("not a valid safetensors file"),
        "{e}"
    );

    let tiny = tmp("tiny.safetensors");
    std::fs::write(&tiny, &bytes[..5]).unwrap();
    assert!(err_of(&tiny).contains("tiny.safetensors"));

    // Corrupt header: the JSON broken in the middle.
    let mut corrupt = bytes.clone();
    corrupt[12] = b'#';
    let cpath = tmp("corrupt.safetensors");
    std::fs::write(&cpath, &corrupt).unwrap();
    let e = err_of(&cpath);
    assert!(e.contains("corrupt.safetensors"), "{e}");

    // dtype that does not fit the data: header says F64 for 16 f32 values' worth of bytes.
    let header = r#"{"w":{"dtype":"F64","shape":[4,4],"data_offsets":[0,64]}}"#;
    let mut mismatch = (header.len() as u64).to_le_bytes().to_vec();
    mismatch.extend(header.as_bytes());
    mismatch.extend(vec![0u8; 64]);
    let mpath = tmp("mismatch.safetensors");
    std::fs::write(&mpath, &mismatch).unwrap();
    let e = err_of(&mpath);
    assert!(e.contains("mismatch.safetensors"), "{e}");

    // A dtype we do not hold.
    let header = r#"{"w":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}"#;
    let mut f8 = (header.len() as u64).to_le_bytes().to_vec();
    f8.extend(header.as_bytes());
    f8.extend([0u8; 4]);
    let fpath = tmp("f8.safetensors");
    std::fs::write(&fpath, &f8).unwrap();
    let e = err_of(&fpath);
    assert!(e.contains("f8.safetensors") && e.contains("F8_E4M3") && e.contains("\"w\""), "{e}");

    // Reading a tensor as the wrong type is an error too, not a reinterpretation.
    let good = SafetensorsFile::open(&path).unwrap().load("w").unwrap();
    assert!(good.to_vec::<f64>().unwrap_err().to_string().contains("f32"));
    assert!(SafetensorsFile::open(&path)
        .unwrap()
        .load("nope")
        .unwrap_err()
        .to_string()
        .contains("nope"));
    let missing = tmp("missing.safetensors");
    assert!(err_of(&missing).contains("missing.safetensors"));
}
