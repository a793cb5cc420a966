//! Language package detectors: one module per format, each a pure parser from a
//! file's bytes to the packages it names. Which files reach which parser is decided by
//! path and name in [`crate::lang_files`] before anything is opened.

use postwatch_model::PackageManager;

/// One package a language detector found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LangPackage {
    pub manager: PackageManager,
    /// As the registry spells it: PyPI project name, npm name (with `@scope/`), crate
    /// name, Go module path (`stdlib` for the Go standard library), Maven
    /// `groupId:artifactId`, gem name, Composer `vendor/name`, NuGet id.
    pub name: String,
    /// As recorded. Go: `v1.2.3` for modules, `1.19.8` for `stdlib`.
    pub version: String,
    /// Files the package owns, absolute inside the target, when the format says.
    pub files: Vec<String>,
    /// A development-only dependency, when the lockfile says so.
    pub dev: bool,
}

/// What one parser returns: packages, and problems naming the file.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Parsed {
    pub packages: Vec<LangPackage>,
    pub warnings: Vec<String>,
}

pub mod dotnet;
pub mod golang;
pub mod java;
pub mod node;
pub mod php;
pub mod python;
pub mod ruby;
pub mod rust;
pub(crate) mod zipdir;
