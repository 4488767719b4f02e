//! The wgpu adapter that a run gets: which GPU (or software renderer) wgpu's default device is.
//!
//! Burn's wgpu backend picks its adapter itself (Vulkan on Linux, the high-performance adapter
//! first); this module asks wgpu the same question on a separate instance, so a run can say what
//! it runs on, and refuse or skip a software renderer, before the device is first used.

use cubecl::wgpu::{AutoGraphicsApi, GraphicsApi};

/// One wgpu adapter, as the backend line names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adapter {
    /// The adapter's name (`NVIDIA H200`, `llvmpipe (LLVM 19.1.7, 256 bits)`).
    pub name: String,
    /// The PCI vendor id (0x10de NVIDIA, 0x1002 AMD, 0x8086 Intel, 0x10005 Mesa).
    pub vendor: u32,
    /// `discrete GPU`, `integrated GPU`, `virtual GPU`, `CPU` or `other`.
    pub kind: &'static str,
    /// The driver's name and version, as the driver reports them.
    pub driver: String,
    /// Whether the adapter runs on the CPU (lavapipe, llvmpipe, SwiftShader, WARP).
    pub software: bool,
}

impl std::fmt::Display for Adapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}, vendor {:#x}, driver {})",
            self.name, self.kind, self.vendor, self.driver
        )
    }
}

/// The adapter wgpu's default device uses (the one Burn's `WgpuDevice::DefaultDevice` gets), or
/// `None` when wgpu finds none (no Vulkan loader or driver).
pub fn default_adapter() -> Option<Adapter> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: AutoGraphicsApi::backend().into(),
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let adapter =
        cubecl::future::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            force_fallback_adapter: false,
            compatible_surface: None,
        }))
        .ok()?;
    Some(describe(adapter.get_info()))
}

fn describe(info: wgpu::AdapterInfo) -> Adapter {
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => "discrete GPU",
        wgpu::DeviceType::IntegratedGpu => "integrated GPU",
        wgpu::DeviceType::VirtualGpu => "virtual GPU",
        wgpu::DeviceType::Cpu => "CPU",
        wgpu::DeviceType::Other => "other",
    };
    let name = info.name.to_lowercase();
    let software = info.device_type == wgpu::DeviceType::Cpu
        || ["llvmpipe", "lavapipe", "swiftshader", "warp"]
            .iter()
            .any(|s| name.contains(s));
    let driver = [info.driver.as_str(), info.driver_info.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    Adapter {
        name: info.name,
        vendor: info.vendor,
        kind,
        driver,
        software,
    }
}
