//! Seeded mutation fuzzing of every reader a user's files reach (issue 10): safetensors
//! weights, `config.json`, `tokenizer.json` (word-level and byte-level BPE), GGUF files
//! (header, metadata, tensor table and data), the audit reference dumps (llama, GLA,
//! conv1d), checkpoint records (latest.json alone, and both copies alike), a student's
//! `lawcat.json`, `--data` .jsonl files and `metrics.jsonl`. The seed files are the
//! repository's own (`lawcat/assets/demo-teacher`) or written here, so the harness runs in a
//! plain clone; the SmolLM2 GGUF joins when `scripts/fetch-smollm2.sh` has fetched it.
//!
//! Each case takes a target's seed file, applies 1-3 seeded mutations (bit flips,
//! interesting bytes, cuts, inserts, duplicated chunks, 32/64-bit fields of the binary
//! headers set to awkward values such as 2^62+576, and JSON nodes replaced or deleted),
//! writes it and runs the reader inside `catch_unwind`. Outcomes: *accepted* (loaded; a
//! model then runs a forward pass), *rejected* (an error naming the file). Failures: a
//! panic, an error that does not name the file, an error after the file was accepted
//! ("late"), or an allocation larger than 1 GiB (a size taken from the file on trust:
//! reported with the case, then the process aborts, since an allocation cannot unwind).
//!
//! ```sh
//! cargo test -p lawcat-tests --test fuzz                          # CI: 150 cases per target
//! LAWCAT_FUZZ_CASES=2000 cargo test -p lawcat-tests --test fuzz -- --nocapture
//! LAWCAT_FUZZ_SEED=7 ...                                          # another seed
//! LAWCAT_FUZZ_CASE=gguf:123 cargo test -p lawcat-tests --test fuzz -- --nocapture
//! ```
//! The last form reruns one case, printing its mutations and outcome and keeping the
//! mutated file (the path is printed). `LAWCAT_FUZZ_VERBOSE=1` also lists the kinds of
//! rejection messages per target. The SmolLM2 target runs every tenth case (a case
//! reads its 2 MB of metadata and builds its tokenizer).

use lawcat::audit::Report;
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use tensor::{DType, Device, Rng, Tensor};

// ---------------------------------------------------------------------------------------
// The allocation guard: no reader may take a size from a file and allocate it unchecked.

const ALLOC_LIMIT: usize = 1 << 30;
static CURRENT_TARGET: AtomicUsize = AtomicUsize::new(usize::MAX);
static CURRENT_CASE: AtomicU64 = AtomicU64::new(0);
static TARGET_NAMES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

struct Guard;

fn refuse(size: usize) -> ! {
    // No allocation from here on: format into a stack buffer.
    let mut buf = [0u8; 256];
    let target = CURRENT_TARGET.load(Ordering::SeqCst);
    let case = CURRENT_CASE.load(Ordering::SeqCst);
    let n = {
        let mut c = std::io::Cursor::new(&mut buf[..]);
        let _ = write!(
            c,
            "\nfuzz: an allocation of {size} bytes (over the 1 GiB limit) in target #{target} case \
             {case}: a size from the input was trusted. Rerun with \
             LAWCAT_FUZZ_CASE=<target>:{case}\n"
        );
        c.position() as usize
    };
    let _ = std::io::stderr().write_all(&buf[..n]);
    std::process::abort()
}

// SAFETY: forwards to the system allocator; only refuses (aborting) requests over the limit.
unsafe impl GlobalAlloc for Guard {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if l.size() > ALLOC_LIMIT {
            refuse(l.size())
        }
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        if l.size() > ALLOC_LIMIT {
            refuse(l.size())
        }
        System.alloc_zeroed(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if new > ALLOC_LIMIT {
            refuse(new)
        }
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static GUARD: Guard = Guard;

// ---------------------------------------------------------------------------------------
// Targets.

/// How a case ended.
#[derive(Debug)]
enum Outcome {
    Accepted,
    Rejected(String),
    /// Accepted, then failed when used.
    Late(String),
}

/// What the mutations may aim at.
#[derive(Clone)]
enum Shape {
    /// A binary file: positions below `header` are preferred (the rest is tensor data);
    /// `fields` are (offset, width) of the header's integer fields.
    Binary { header: usize, fields: Vec<(usize, usize)> },
    /// A safetensors file: also JSON mutations of its header.
    Safetensors,
    /// A JSON file: also structural mutations.
    Json,
    /// JSON lines.
    JsonLines,
}

type Reader = Box<dyn Fn(&Path) -> Outcome>;

struct Target {
    name: &'static str,
    /// The file the mutated bytes are written to (other files of its folder stay).
    file: PathBuf,
    seed: Vec<u8>,
    shape: Shape,
    /// Write in place, restoring afterwards, with length-preserving mutations only (for
    /// a large seed file, so no case rewrites it whole).
    in_place: bool,
    read: Reader,
}

/// An error: rejected when it names the file (`named` is what it must contain).
fn rejected(named: &str, e: impl std::fmt::Display) -> Outcome {
    Outcome::Rejected(format!("{e:#}")).check_named(named)
}

impl Outcome {
    fn check_named(self, named: &str) -> Outcome {
        match self {
            Outcome::Rejected(m) if !m.contains(named) => {
                Outcome::Rejected(format!("UNNAMED: {m}"))
            }
            o => o,
        }
    }
}

macro_rules! load {
    ($named:expr, $e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return rejected($named, e),
        }
    };
}

macro_rules! use_ {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Outcome::Late(format!("{e:#}")),
        }
    };
}

/// A forward pass over a few ids inside the vocabulary: what a loaded model must survive.
fn forward(m: &nn::Llama) -> tensor::Result<()> {
    let v = m.config.vocab_size as i64;
    let ids = Tensor::from_vec(vec![0i64, 1 % v, 2 % v, (v - 1).max(0)], [1, 4], &m.device())?;
    autograd::no_grad(|| m.forward(&ids, None, false)).map(|_| ())
}

fn tokenizer_round_trip(t: &nn::Tokenizer) -> tensor::Result<()> {
    let ids = t.encode("The grass is green. Here we go 12345 again", false)?;
    t.decode(&ids, false)?;
    // An id past the vocabulary is an error, not empty text.
    if t.decode(&[u32::MAX - 1], false).is_ok() {
        return Err(tensor::Error::op("fuzz", "decoding an unknown id succeeded"));
    }
    Ok(())
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Seed files written here.

/// The built-in demo teacher's files (from the repository).
const DEMO_CONFIG: &[u8] = include_bytes!("../../lawcat/assets/demo-teacher/config.json");
const DEMO_WEIGHTS: &[u8] = include_bytes!("../../lawcat/assets/demo-teacher/model.safetensors");

fn demo_teacher() -> nn::Llama {
    lawcat::builtin::teacher().expect("the built-in teacher loads").model
}

/// A random tensor of `shape` (f32) or ids below `vocab` (i64).
fn rand_f32(shape: &[usize], rng: &mut Rng) -> Tensor {
    Tensor::rand_uniform(shape, -1.0, 1.0, DType::F32, &Device::Cpu, rng)
        .expect("a small random tensor")
}

fn save(path: &Path, tensors: &[(&str, Tensor)]) {
    tensor::safetensors_io::save(tensors.iter().map(|(n, t)| (*n, t)), None, path).unwrap();
}

fn targets(dir: &Path) -> Vec<Target> {
    let mut out: Vec<Target> = vec![];
    let mk = |name: &str| {
        let d = dir.join(name.replace([' ', '(', ')'], "_"));
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    let teacher = std::sync::Arc::new(demo_teacher());

    // An HF folder (the demo teacher's config.json and model.safetensors), each file
    // mutated in turn: loaded as `lawcat` loads it, then run.
    for (name, file, seed, shape) in [
        ("safetensors", "model.safetensors", DEMO_WEIGHTS, Shape::Safetensors),
        ("config.json", "config.json", DEMO_CONFIG, Shape::Json),
    ] {
        let d = mk(&format!("hf-{file}"));
        std::fs::write(d.join("config.json"), DEMO_CONFIG).unwrap();
        std::fs::write(d.join("model.safetensors"), DEMO_WEIGHTS).unwrap();
        let folder = file_name(&d);
        out.push(Target {
            name,
            file: d.join(file),
            seed: seed.to_vec(),
            shape,
            in_place: false,
            read: Box::new(move |p| {
                let dir = p.parent().expect("in a folder");
                load!(&folder, nn::inspect::describe(dir));
                let l = load!(&folder, nn::load_model(dir));
                use_!(forward(&l.model));
                Outcome::Accepted
            }),
        });
    }
    // tokenizer.json: the demo's word-level one and the GGUF's byte-level BPE one
    let gguf_seed = lawcat_tests::gguf::GgufSpec::small_llama().to_bytes();
    let bpe_json = {
        let p = dir.join("seed.gguf");
        std::fs::write(&p, &gguf_seed).unwrap();
        let g = nn::gguf::GgufFile::open(&p).unwrap();
        nn::gguf::convert::tokenizer(&g).unwrap().to_json().unwrap()
    };
    for (name, seed) in [
        (
            "tokenizer.json (word level)",
            lawcat::synth::demo_tokenizer().unwrap().to_json().unwrap(),
        ),
        ("tokenizer.json (BPE)", bpe_json),
    ] {
        let d = mk(name);
        out.push(Target {
            name,
            file: d.join("tokenizer.json"),
            seed: seed.into_bytes(),
            shape: Shape::Json,
            in_place: false,
            read: Box::new(|p| {
                let t = load!("tokenizer.json", nn::Tokenizer::from_file(p));
                use_!(tokenizer_round_trip(&t));
                Outcome::Accepted
            }),
        });
    }
    // GGUF: the small one written here, whole (header, table, data)
    {
        let d = mk("gguf");
        let (fields, header) = lawcat_tests::gguf::header_fields(&gguf_seed);
        out.push(Target {
            name: "gguf",
            file: d.join("model.gguf"),
            seed: gguf_seed,
            shape: Shape::Binary { header, fields },
            in_place: false,
            read: Box::new(|p| {
                let n = file_name(p);
                load!(&n, nn::inspect::describe(p));
                let l = load!(&n, nn::load_model(p));
                use_!(forward(&l.model));
                use_!(tokenizer_round_trip(l.tokenizer.as_ref().expect("a GGUF has a tokenizer")));
                Outcome::Accepted
            }),
        });
    }
    // GGUF: SmolLM2 when fetched, header and table only (metadata, config, tokenizer)
    let smollm2 =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.data/SmolLM2-135M-Instruct.Q4_1.gguf");
    if let Ok(bytes) = std::fs::read(&smollm2) {
        let d = mk("smollm2");
        let (fields, header) = lawcat_tests::gguf::header_fields(&bytes);
        let file = d.join("smollm2.gguf");
        std::fs::write(&file, &bytes).unwrap();
        out.push(Target {
            name: "gguf (SmolLM2)",
            file,
            seed: bytes,
            shape: Shape::Binary { header, fields },
            in_place: true,
            read: Box::new(|p| {
                let n = file_name(p);
                let d = load!(&n, nn::inspect::describe(p));
                // The header must agree with the table: the dequantized size was checked.
                let _ = d;
                Outcome::Accepted
            }),
        });
    }
    // audit dumps
    let mut rng = Rng::new(9);
    {
        let d = mk("audit gla");
        let (b, t, h, k, v) = (1, 7, 2, 4, 3);
        let file = d.join("gla_b1_t7.safetensors");
        save(
            &file,
            &[
                ("q", rand_f32(&[b, t, h, k], &mut rng)),
                ("k", rand_f32(&[b, t, h, k], &mut rng)),
                ("v", rand_f32(&[b, t, h, v], &mut rng)),
                ("g", rand_f32(&[b, t, h, k], &mut rng).affine(0.1, -0.2).unwrap()),
                ("initial_state", rand_f32(&[b, h, k, v], &mut rng)),
                ("o", rand_f32(&[b, t, h, v], &mut rng)),
                ("final_state", rand_f32(&[b, h, k, v], &mut rng)),
                ("do", rand_f32(&[b, t, h, v], &mut rng)),
                ("d_final_state", rand_f32(&[b, h, k, v], &mut rng)),
                ("dq", rand_f32(&[b, t, h, k], &mut rng)),
                ("dk", rand_f32(&[b, t, h, k], &mut rng)),
                ("dv", rand_f32(&[b, t, h, v], &mut rng)),
                ("dg", rand_f32(&[b, t, h, k], &mut rng)),
                ("d_initial_state", rand_f32(&[b, h, k, v], &mut rng)),
            ],
        );
        let seed = std::fs::read(&file).unwrap();
        out.push(Target {
            name: "audit gla",
            file,
            seed,
            shape: Shape::Safetensors,
            in_place: false,
            read: Box::new(|p| {
                let n = file_name(p);
                let r = load!(&n, lawcat::cli::audit::open(p));
                for (normalized, chunk) in [(false, 0), (false, 4), (true, 3)] {
                    let rep: Report =
                        load!(&n, lawcat::cli::audit::audit_gla(&r, normalized, chunk, 1e-4));
                    let _ = rep.render();
                }
                Outcome::Accepted
            }),
        });
    }
    {
        let d = mk("audit conv1d");
        let (b, t, c, w) = (2, 9, 3, 4);
        let file = d.join("conv1d_b2_t9.safetensors");
        save(
            &file,
            &[
                ("x", rand_f32(&[b, t, c], &mut rng)),
                ("weight", rand_f32(&[c, w], &mut rng)),
                ("bias", rand_f32(&[c], &mut rng)),
                ("y", rand_f32(&[b, t, c], &mut rng)),
                ("dy", rand_f32(&[b, t, c], &mut rng)),
                ("dx", rand_f32(&[b, t, c], &mut rng)),
                ("dweight", rand_f32(&[c, w], &mut rng)),
                ("dbias", rand_f32(&[c], &mut rng)),
            ],
        );
        let seed = std::fs::read(&file).unwrap();
        out.push(Target {
            name: "audit conv1d",
            file,
            seed,
            shape: Shape::Safetensors,
            in_place: false,
            read: Box::new(|p| {
                let n = file_name(p);
                let r = load!(&n, lawcat::cli::audit::open(p));
                let rep = load!(&n, lawcat::cli::audit::audit_conv1d(&r, 1e-4));
                let _ = rep.render();
                Outcome::Accepted
            }),
        });
    }
    {
        let d = mk("audit llama");
        let file = d.join("reference.safetensors");
        let c = &teacher.config;
        let (b, t) = (1, 6);
        let ids = Tensor::from_vec(
            (0..t as i64).map(|i| (i * 5) % c.vocab_size as i64).collect::<Vec<_>>(),
            [b, t],
            &Device::Cpu,
        )
        .unwrap();
        let mut list: Vec<(String, Tensor)> = vec![
            ("input_ids".into(), ids),
            ("logits".into(), rand_f32(&[b, t, c.vocab_size], &mut rng)),
            ("loss".into(), rand_f32(&[1], &mut rng)),
        ];
        for i in 0..=c.num_hidden_layers {
            list.push((format!("hidden_states.{i}"), rand_f32(&[b, t, c.hidden_size], &mut rng)));
        }
        for (name, p) in teacher.named_params().into_iter().take(4) {
            list.push((format!("grad.{name}"), rand_f32(p.value().dims(), &mut rng)));
        }
        let refs: Vec<(&str, Tensor)> = list.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
        save(&file, &refs);
        let seed = std::fs::read(&file).unwrap();
        let m = teacher.clone();
        out.push(Target {
            name: "audit llama",
            file,
            seed,
            shape: Shape::Safetensors,
            in_place: false,
            read: Box::new(move |p| {
                let n = file_name(p);
                let r = load!(&n, lawcat::cli::audit::open(p));
                let rep =
                    load!(&n, lawcat::cli::audit::audit_llama(&r, &m, "builtin", 1e-4, 1e-5, 1e-3));
                let _ = rep.render();
                Outcome::Accepted
            }),
        });
    }
    // a checkpoint record, then the restore it leads to: latest.json alone (any change
    // disagrees with state.json), and both copies edited alike (the folder, the hashes
    // and the optimizer's step count must still catch it)
    for (name, both) in [("checkpoint latest.json", false), ("checkpoint, both records", true)] {
        use lawcat::train::{new_optimizer, RunDir, StageConfig};
        let d = mk(if both { "checkpoint-both" } else { "checkpoint" });
        let run = RunDir::create(&d).unwrap();
        let p = autograd::Param::new("w", rand_f32(&[3, 2], &mut rng));
        let cfg = StageConfig {
            steps: 4,
            lr: 0.1,
            warmup_frac: 0.0,
            min_lr_ratio: 1.0,
            weight_decay: 0.0,
            clip: 1.0,
        };
        let opt = new_optimizer(vec![p.clone()], &cfg);
        run.save(
            1,
            0,
            std::slice::from_ref(&p),
            &opt,
            &serde_json::json!({"settings": {"lr": 0.1, "steps": [1, 2]}}),
        )
        .unwrap();
        let file = d.join("checkpoints/latest.json");
        let state =
            d.join("checkpoints").join(lawcat::train::checkpoint_folder(1, 0)).join("state.json");
        let seed = std::fs::read(&file).unwrap();
        let root = run.root.clone();
        let named = file_name(&root);
        out.push(Target {
            name,
            file,
            seed,
            shape: Shape::Json,
            in_place: false,
            read: Box::new(move |p| {
                if both {
                    std::fs::copy(p, &state).unwrap();
                }
                let run = load!(&named, RunDir::create(&root));
                let Some(st) = load!(&named, run.latest()) else { return Outcome::Accepted };
                let q = autograd::Param::new(
                    "w",
                    Tensor::zeros([3, 2], DType::F32, &Device::Cpu).expect("zeros"),
                );
                let mut opt = new_optimizer(vec![q.clone()], &cfg);
                load!(&named, run.restore(&st, std::slice::from_ref(&q), &mut opt));
                Outcome::Accepted
            }),
        });
    }
    // a student's lawcat.json, then the student it describes
    {
        let d = mk("student");
        let lcfg = lawcat::config::LawcatConfig { chunk: 4, ..Default::default() };
        let s = lawcat::student::build_student(&teacher, &lcfg, 1).unwrap();
        let info = lawcat::student::StudentInfo {
            lawcat: lcfg,
            teacher: "builtin".into(),
            notes: serde_json::json!({}),
        };
        lawcat::student::save_student(&s, &info, None, &d).unwrap();
        let file = d.join("lawcat.json");
        let seed = std::fs::read(&file).unwrap();
        out.push(Target {
            name: "lawcat.json",
            file,
            seed,
            shape: Shape::Json,
            in_place: false,
            read: Box::new(move |p| {
                let dir = p.parent().expect("in a folder");
                let (m, _, _) = load!("lawcat.json", lawcat::student::load_student(dir));
                use_!(forward(&m));
                Outcome::Accepted
            }),
        });
    }
    // --data .jsonl documents
    {
        let d = mk("data");
        let file = d.join("docs.jsonl");
        let seed = b"{\"text\": \"The grass is green.\"}\n{\"text\": \"Here we go.\", \"id\": 2}\n\
                     {\"text\": \"\"}\n"
            .to_vec();
        out.push(Target {
            name: "data .jsonl",
            file,
            seed,
            shape: Shape::JsonLines,
            in_place: false,
            read: Box::new(|p| {
                let docs = load!("docs.jsonl", lawcat::data::read_documents(p));
                let tok = lawcat::synth::demo_tokenizer().expect("the demo tokenizer");
                for d in docs {
                    use_!(tok.encode(&d, false));
                }
                Outcome::Accepted
            }),
        });
    }
    // metrics.jsonl of a run folder (resume trims it; summaries read it)
    {
        let d = mk("metrics");
        let run = lawcat::train::RunDir::create(&d).unwrap();
        let file = run.metrics_path();
        let seed = b"{\"stage\":1,\"step\":1,\"loss\":2.5,\"seconds\":0.1}\n\
                     {\"stage\":1,\"step\":2,\"loss\":2.25,\"seconds\":0.1}\n\
                     {\"stage\":1,\"step\":2,\"event\":\"lr_override\",\"changes\":{}}\n\
                     {\"stage\":2,\"step\":1,\"loss\":1.5,\"seconds\":0.2}\n"
            .to_vec();
        let root = run.root.clone();
        out.push(Target {
            name: "metrics.jsonl",
            file,
            seed,
            shape: Shape::JsonLines,
            in_place: false,
            read: Box::new(move |_| {
                let run = load!("metrics", lawcat::train::RunDir::create(&root));
                for stage in [1, 2] {
                    load!("metrics.jsonl", run.stage_summary(stage, 16));
                }
                load!("metrics.jsonl", run.trim_metrics(1, 1));
                Outcome::Accepted
            }),
        });
    }
    out
}

// ---------------------------------------------------------------------------------------
// Mutations.

const INTERESTING_U64: [u64; 16] = [
    0,
    1,
    2,
    3,
    4,
    31,
    255,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0x1_0000_0002,
    (1 << 62) + 576,
    i64::MAX as u64,
    u64::MAX,
    u64::MAX - 7,
];
const INTERESTING_BYTES: [u8; 14] =
    [0, 0xff, 0x7f, 0x80, b'"', b'{', b'}', b'[', b'-', b'9', b'\\', b'.', b'e', b','];

fn interesting_json(rng: &mut Rng) -> serde_json::Value {
    use serde_json::json;
    let all = [
        json!(0),
        json!(-1),
        json!(1),
        json!(2147483648u64),
        json!(4294967298u64),
        json!(1u64 << 53),
        json!((1u64 << 62) + 576),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(1e308),
        json!(-1e308),
        json!(1e-310),
        json!(0.5),
        json!(-0.0),
        json!(""),
        json!("x"),
        json!("../../victim"),
        json!("stage1-step0000001"),
        json!(null),
        json!(true),
        json!([]),
        json!({}),
        json!([1, 2, 3]),
        json!({"type": "BPE"}),
        json!("\u{0}\u{ffff}"),
    ];
    all[rng.below(all.len())].clone()
}

/// Every node of a JSON document as a path of keys and indices.
fn json_paths(
    v: &serde_json::Value,
    path: &mut Vec<serde_json::Value>,
    out: &mut Vec<Vec<serde_json::Value>>,
) {
    out.push(path.clone());
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                path.push(serde_json::json!(k));
                json_paths(x, path, out);
                path.pop();
            }
        }
        serde_json::Value::Array(a) => {
            // long arrays (vocabularies, merges): a few elements are enough
            for (i, x) in a.iter().enumerate().take(8) {
                path.push(serde_json::json!(i));
                json_paths(x, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn json_at<'a>(
    v: &'a mut serde_json::Value,
    path: &[serde_json::Value],
) -> &'a mut serde_json::Value {
    path.iter().fold(v, |v, k| match k {
        serde_json::Value::String(s) => v.get_mut(s.as_str()).expect("a path from json_paths"),
        k => v.get_mut(k.as_u64().expect("an index") as usize).expect("a path from json_paths"),
    })
}

/// One structural mutation of a JSON document; `None` when the text is not JSON.
fn mutate_json(text: &[u8], rng: &mut Rng) -> Option<(Vec<u8>, String)> {
    let mut v: serde_json::Value = serde_json::from_slice(text).ok()?;
    let mut paths = vec![];
    json_paths(&v, &mut vec![], &mut paths);
    let path = paths[rng.below(paths.len())].clone();
    let shown = serde_json::Value::Array(path.clone()).to_string();
    let desc = match rng.below(4) {
        0 if !path.is_empty() => {
            let (last, parent) = path.split_last().expect("not empty");
            let p = json_at(&mut v, parent);
            match (p, last) {
                (serde_json::Value::Object(m), serde_json::Value::String(k)) => {
                    m.remove(k);
                }
                (serde_json::Value::Array(a), k) => {
                    a.remove(k.as_u64().expect("an index") as usize);
                }
                _ => {}
            }
            format!("delete json {shown}")
        }
        1 => {
            let node = json_at(&mut v, &path);
            if let serde_json::Value::Array(a) = node {
                if let Some(x) = a.first().cloned() {
                    a.push(x);
                }
            } else if let serde_json::Value::Object(m) = node {
                m.insert("unexpected_key".into(), serde_json::json!(1));
            }
            format!("grow json {shown}")
        }
        _ => {
            let new = interesting_json(rng);
            let d = format!("set json {shown} = {new}");
            *json_at(&mut v, &path) = new;
            d
        }
    };
    Some((serde_json::to_vec_pretty(&v).expect("serializes"), desc))
}

/// One byte-level mutation; `keep_len` allows only those that keep the length.
fn mutate_bytes(b: &mut Vec<u8>, shape: &Shape, keep_len: bool, rng: &mut Rng) -> String {
    if b.is_empty() {
        b.push(b'{');
        return "insert into an empty file".into();
    }
    let hot = match shape {
        Shape::Binary { header, .. } => (*header).min(b.len()),
        Shape::Safetensors => b.get(..8).map_or(b.len(), |h| {
            (u64::from_le_bytes(h.try_into().expect("8 bytes")) as usize)
                .saturating_add(8)
                .min(b.len())
        }),
        _ => b.len(),
    };
    // Mostly the header (where sizes and offsets are), sometimes the data (values).
    let in_data = hot < b.len() && rng.below(10) < 3;
    let pos = if in_data { hot + rng.below(b.len() - hot) } else { rng.below(hot.max(1)) };
    let keep_len = keep_len || in_data;
    let fields = matches!(shape, Shape::Binary { .. }) && !in_data && rng.below(2) == 0;
    let op = if fields {
        2
    } else if keep_len {
        rng.below(2)
    } else {
        rng.below(7)
    };
    match op {
        0 => {
            let bit = rng.below(8);
            b[pos] ^= 1 << bit;
            format!("flip bit {bit} at {pos}")
        }
        1 => {
            let v = INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())];
            b[pos] = v;
            format!("set byte {pos} = {v:#04x}")
        }
        2 => {
            let fields: Vec<(usize, usize)> = match shape {
                Shape::Binary { fields, .. } => {
                    fields.iter().copied().filter(|(o, w)| o + w <= b.len()).collect()
                }
                _ => vec![],
            };
            let (at, width) = if fields.is_empty() {
                (pos.min(b.len().saturating_sub(8)), 8.min(b.len()))
            } else {
                fields[rng.below(fields.len())]
            };
            let v = INTERESTING_U64[rng.below(INTERESTING_U64.len())];
            b[at..at + width].copy_from_slice(&v.to_le_bytes()[..width]);
            format!("set {}-bit field at {at} = {v}", width * 8)
        }
        3 => {
            let n = 1 + rng.below(16).min(b.len() - pos - 1);
            b.drain(pos..pos + n);
            format!("delete {n} bytes at {pos}")
        }
        4 => {
            let n = 1 + rng.below(8);
            let ins: Vec<u8> =
                (0..n).map(|_| INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())]).collect();
            b.splice(pos..pos, ins);
            format!("insert {n} bytes at {pos}")
        }
        5 => {
            b.truncate(pos);
            format!("truncate at {pos}")
        }
        _ => {
            let n = 1 + rng.below(64).min(b.len() - pos - 1);
            let chunk = b[pos..pos + n].to_vec();
            let to = rng.below(b.len());
            b.splice(to..to, chunk);
            format!("copy {n} bytes from {pos} to {to}")
        }
    }
}

/// 1-3 mutations of `seed`, with a description to reproduce them by.
fn mutate(seed: &[u8], shape: &Shape, keep_len: bool, rng: &mut Rng) -> (Vec<u8>, Vec<String>) {
    let mut b = seed.to_vec();
    let mut desc = vec![];
    // Text formats: either only structural mutations (the file stays well formed and
    // the reader's checks of its content are exercised) or only byte mutations.
    let structural_case = !keep_len && rng.below(10) < 6;
    for _ in 0..1 + rng.below(3) {
        let structural = structural_case;
        let done = match shape {
            Shape::Json if structural => mutate_json(&b, rng),
            Shape::JsonLines if structural => {
                let text = String::from_utf8_lossy(&b).into_owned();
                let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
                if lines.is_empty() {
                    None
                } else {
                    let i = rng.below(lines.len());
                    mutate_json(lines[i].as_bytes(), rng).map(|(l, d)| {
                        lines[i] = serde_json::to_string(
                            &serde_json::from_slice::<serde_json::Value>(&l).expect("json"),
                        )
                        .expect("serializes");
                        ((lines.join("\n") + "\n").into_bytes(), format!("line {}: {d}", i + 1))
                    })
                }
            }
            Shape::Safetensors if structural => {
                let n = b
                    .get(..8)
                    .map(|h| u64::from_le_bytes(h.try_into().expect("8 bytes")) as usize)
                    .filter(|&n| n.checked_add(8).is_some_and(|e| e <= b.len()));
                n.and_then(|n| {
                    let (header, rest) = (b[8..8 + n].to_vec(), b[8 + n..].to_vec());
                    mutate_json(&header, rng).map(|(h, d)| {
                        let mut nb = (h.len() as u64).to_le_bytes().to_vec();
                        nb.extend(h);
                        nb.extend(rest);
                        (nb, format!("header: {d}"))
                    })
                })
            }
            _ => None,
        };
        match done {
            Some((nb, d)) => {
                b = nb;
                desc.push(d);
            }
            None => desc.push(mutate_bytes(&mut b, shape, keep_len, rng)),
        }
    }
    (b, desc)
}

// ---------------------------------------------------------------------------------------
// The driver.

static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);
/// True while a reader runs (its panics are recorded, the harness's own are not hidden).
static IN_CASE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

struct Failure {
    target: &'static str,
    case: u64,
    what: String,
    mutations: Vec<String>,
}

#[derive(Default)]
struct Tally {
    cases: u64,
    accepted: u64,
    rejected: u64,
    seconds: f64,
}

fn case_rng(base: u64, target: usize, case: u64) -> Rng {
    Rng::new(base ^ case.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ ((target as u64) << 56))
}

/// Runs one case; `Err` describes a failure.
fn run_case(t: &Target, ti: usize, case: u64, base: u64) -> (Result<Outcome, String>, Vec<String>) {
    let mut rng = case_rng(base, ti, case);
    let (bytes, desc) = mutate(&t.seed, &t.shape, t.in_place, &mut rng);
    CURRENT_TARGET.store(ti, Ordering::SeqCst);
    CURRENT_CASE.store(case, Ordering::SeqCst);
    if t.in_place {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(&t.file).unwrap();
        let changed: Vec<usize> = (0..bytes.len()).filter(|&i| bytes[i] != t.seed[i]).collect();
        for &i in &changed {
            f.write_at(&bytes[i..i + 1], i as u64).unwrap();
        }
        IN_CASE.store(true, Ordering::SeqCst);
        let r = catch_unwind(AssertUnwindSafe(|| (t.read)(&t.file)));
        IN_CASE.store(false, Ordering::SeqCst);
        for &i in &changed {
            f.write_at(&t.seed[i..i + 1], i as u64).unwrap();
        }
        return (r.map_err(|_| LAST_PANIC.lock().unwrap().take().unwrap_or_default()), desc);
    }
    std::fs::write(&t.file, &bytes).unwrap();
    IN_CASE.store(true, Ordering::SeqCst);
    let r = catch_unwind(AssertUnwindSafe(|| (t.read)(&t.file)));
    IN_CASE.store(false, Ordering::SeqCst);
    (r.map_err(|_| LAST_PANIC.lock().unwrap().take().unwrap_or_default()), desc)
}

#[test]
fn readers_survive_mutated_files() {
    let base: u64 =
        std::env::var("LAWCAT_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5AFE);
    let per_target: u64 =
        std::env::var("LAWCAT_FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(150);
    let only = std::env::var("LAWCAT_FUZZ_CASE").ok();
    let dir = std::env::temp_dir().join(format!("lawcat-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let targets = targets(&dir);
    *TARGET_NAMES.lock().unwrap() = targets.iter().map(|t| t.name).collect();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if IN_CASE.load(Ordering::SeqCst) {
            *LAST_PANIC.lock().unwrap() = Some(info.to_string());
        } else {
            default_hook(info)
        }
    }));
    let start = std::time::Instant::now();
    let mut failures: Vec<Failure> = vec![];
    let mut tally: BTreeMap<&'static str, Tally> = BTreeMap::new();
    if let Some(spec) = only {
        let _ = std::panic::take_hook();
        let (name, case) = spec.rsplit_once(':').expect("LAWCAT_FUZZ_CASE=<target>:<case>");
        let (ti, t) =
            targets.iter().enumerate().find(|(_, t)| t.name == name).unwrap_or_else(|| {
                panic!(
                    "no target {name:?}; targets: {:?}",
                    targets.iter().map(|t| t.name).collect::<Vec<_>>()
                )
            });
        let (r, desc) = run_case(t, ti, case.parse().expect("a case number"), base);
        println!("{name} case {case}: {desc:?}\nfile: {}\noutcome: {r:?}", t.file.display());
        return;
    }
    let names: Vec<&str> = targets.iter().map(|t| t.name).collect();
    println!("fuzz: seed {base:#x}, {per_target} cases per target, targets {names:?}");
    let verbose = std::env::var("LAWCAT_FUZZ_VERBOSE").is_ok();
    let mut messages: BTreeMap<(&'static str, String), u64> = BTreeMap::new();
    for case in 0..per_target {
        for (ti, t) in targets.iter().enumerate() {
            // A large seed file costs a second per few cases: a tenth of the cases.
            if t.in_place && case % 10 != 0 {
                continue;
            }
            let t0 = std::time::Instant::now();
            let (r, mutations) = run_case(t, ti, case, base);
            let e = tally.entry(t.name).or_default();
            e.cases += 1;
            e.seconds += t0.elapsed().as_secs_f64();
            let what = match r {
                Ok(Outcome::Accepted) => {
                    e.accepted += 1;
                    continue;
                }
                Ok(Outcome::Rejected(m)) if !m.starts_with("UNNAMED: ") => {
                    e.rejected += 1;
                    if verbose {
                        // the message without paths and numbers: its kind
                        let kind: String = m
                            .replace(&dir.to_string_lossy().into_owned(), "")
                            .chars()
                            .filter(|c| !c.is_ascii_digit())
                            .take(90)
                            .collect();
                        *messages.entry((t.name, kind)).or_default() += 1;
                    }
                    continue;
                }
                Ok(Outcome::Rejected(m)) => {
                    format!("an error that does not name the file: {}", &m["UNNAMED: ".len()..])
                }
                Ok(Outcome::Late(m)) => format!("accepted, then failed when used: {m}"),
                Err(p) => format!("PANIC {p}"),
            };
            failures.push(Failure { target: t.name, case, what, mutations });
        }
    }
    let _ = std::panic::take_hook();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{:<28} {:>7} {:>9} {:>9} {:>9} {:>8}",
        "target", "cases", "accepted", "rejected", "failures", "seconds"
    );
    for (name, t) in &tally {
        let f = failures.iter().filter(|f| &f.target == name).count();
        println!(
            "{name:<28} {:>7} {:>9} {:>9} {:>9} {:>8.1}",
            t.cases, t.accepted, t.rejected, f, t.seconds
        );
    }
    if verbose {
        for ((target, kind), n) in &messages {
            println!("{target:<28} {n:>6}  {kind}");
        }
    }
    let total: u64 = tally.values().map(|t| t.cases).sum();
    let panics = failures.iter().filter(|f| f.what.starts_with("PANIC")).count();
    println!("{total} cases in {secs:.1} s: {} failures, {panics} panics", failures.len());
    let _ = std::fs::remove_dir_all(&dir);
    if !failures.is_empty() {
        let list: Vec<String> = failures
            .iter()
            .take(20)
            .map(|f| {
                format!(
                    "LAWCAT_FUZZ_SEED={base} LAWCAT_FUZZ_CASE={:?} ({:?}): {}",
                    format!("{}:{}", f.target, f.case),
                    f.mutations,
                    f.what
                )
            })
            .collect();
        panic!("{} of {total} cases failed (first 20):\n{}", failures.len(), list.join("\n"));
    }
}
