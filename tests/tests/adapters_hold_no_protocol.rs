//! Rule 2 of the house, checked: adapters hold no protocol logic. Their sources may name the
//! core's vocabulary (`CloseCode::NORMAL`), but never spell out a header, a status line, an
//! opcode or a close code of their own; those decisions belong to the core.

use std::fs;
use std::path::{Path, PathBuf};

/// Text that means an adapter is doing the core's job.
const FORBIDDEN: &[&str] = &[
    "Sec-WebSocket",
    "\"websocket\"",
    "Upgrade:",
    "HTTP/1.1 ",
    "\\r\\n",
    "CloseCode(",
    "OpCode",
    "258EAFA5", // the accept-key GUID
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn adapter_sources_spell_out_no_protocol_constant() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../adapters");
    let mut files = Vec::new();
    for crate_dir in ["driver", "std", "mio", "smol", "tokio"] {
        sources(&root.join(crate_dir).join("src"), &mut files);
    }
    assert!(
        files.len() >= 5,
        "adapter sources not found under {}",
        root.display()
    );
    let mut found = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for pattern in FORBIDDEN {
                if code.contains(pattern) {
                    found.push(format!("{}:{}: {pattern}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "protocol constants in adapters:\n{}",
        found.join("\n")
    );
}
