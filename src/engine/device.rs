//! Choosing where to train: a real GPU through wgpu when there is one, else the flex CPU backend.

use burn::tensor::Device;

/// What the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// A real GPU if present, else CPU. Software adapters (llvmpipe) count as no GPU.
    Auto,
    /// The flex CPU backend.
    Cpu,
    /// A real GPU; an error when there is none.
    Gpu,
}

impl std::str::FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "gpu" => Ok(DeviceChoice::Gpu),
            other => Err(format!("unknown device '{other}': use auto, cpu or gpu")),
        }
    }
}

/// The device a run uses, and how to name it to the user.
#[derive(Clone, Debug)]
pub struct SelectedDevice {
    /// The Burn device (without autodiff).
    pub device: Device,
    /// "cpu" or "gpu".
    pub kind: &'static str,
    /// Adapter or backend name.
    pub name: String,
}

/// No GPU could be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// Asked for a GPU, none is present (or only a software adapter).
    #[error(
        "no GPU adapter is available{0} — train on the CPU instead (`--device cpu` or `auto`; in the app: the CPU or Auto device choice)"
    )]
    NoGpu(String),
}

/// A real (hardware) GPU adapter's name, if the machine has one. Does not open a Burn device.
pub fn probe_gpu() -> Option<String> {
    #[cfg(feature = "gpu")]
    {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let adapters = pollster::block_on(
            instance.enumerate_adapters(wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12),
        );
        adapters
            .into_iter()
            .map(|a| a.get_info())
            .find(|i| {
                matches!(
                    i.device_type,
                    wgpu::DeviceType::DiscreteGpu | wgpu::DeviceType::IntegratedGpu | wgpu::DeviceType::VirtualGpu
                )
            })
            .map(|i| format!("{} ({:?})", i.name, i.backend))
    }
    #[cfg(not(feature = "gpu"))]
    {
        None
    }
}

/// Makes library code that calls `Device::default()` pick the CPU backend. Call early in
/// `main`, before other threads start, whenever the run will not use a GPU.
pub fn prefer_cpu_backend() {
    // SAFETY: called from `main` before any other thread exists, so nothing reads the
    // environment concurrently.
    unsafe { std::env::set_var("BURN_DEVICE", "flex") };
}

/// Resolves a choice to a device.
pub fn select(choice: DeviceChoice) -> Result<SelectedDevice, DeviceError> {
    let cpu = || SelectedDevice {
        device: Device::flex(),
        kind: "cpu",
        name: "flex (CPU)".into(),
    };
    match choice {
        DeviceChoice::Cpu => Ok(cpu()),
        DeviceChoice::Auto => Ok(gpu_device().unwrap_or_else(cpu)),
        DeviceChoice::Gpu => gpu_device().ok_or_else(|| {
            DeviceError::NoGpu(if cfg!(feature = "gpu") {
                String::new()
            } else {
                " (built without the gpu feature)".into()
            })
        }),
    }
}

fn gpu_device() -> Option<SelectedDevice> {
    #[cfg(feature = "gpu")]
    {
        let name = probe_gpu()?;
        Some(SelectedDevice {
            device: Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
            kind: "gpu",
            name,
        })
    }
    #[cfg(not(feature = "gpu"))]
    {
        None
    }
}

/// Free memory where a run on `device` keeps its tensors, and what that place is called in
/// messages: on a GPU that reports it, the GPU's own free memory (NVIDIA through `nvidia-smi`, AMD
/// through the kernel's `mem_info_vram_*` files); otherwise RAM (the CPU backend, or a GPU that
/// shares system memory or does not say). `None` when nothing can be read.
pub fn available_memory(device: &Device) -> (Option<u64>, &'static str) {
    if *device != Device::flex()
        && let Some(free) = gpu_free_memory()
    {
        return (Some(free), "the GPU");
    }
    (crate::shape::memory::available_ram(), "this machine")
}

/// The largest free dedicated GPU memory any card reports, in bytes.
fn gpu_free_memory() -> Option<u64> {
    let nvidia = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=memory.free", "--format=csv,noheader,nounits"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.trim().parse::<u64>().ok())
                .max()
        })
        .map(|mib| mib * 1024 * 1024);
    if nvidia.is_some() {
        return nvidia;
    }
    let mut best: Option<u64> = None;
    for entry in std::fs::read_dir("/sys/class/drm").ok()?.flatten() {
        let dev = entry.path().join("device");
        let read = |f: &str| -> Option<u64> { std::fs::read_to_string(dev.join(f)).ok()?.trim().parse().ok() };
        if let (Some(total), Some(used)) = (read("mem_info_vram_total"), read("mem_info_vram_used")) {
            best = best.max(Some(total.saturating_sub(used)));
        }
    }
    best
}
