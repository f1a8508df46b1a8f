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
