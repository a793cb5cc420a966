//! The command that applies a fix, in the target's own package manager.

use postwatch_model::PackageManager;

/// Shell-quotes a word unless it is plainly safe.
fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:+=@/^~".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The upgrade command for `name` to `fixed` (the highest fix among the merged
/// advisories) with `manager`.
pub fn command(manager: PackageManager, name: &str, fixed: &str) -> String {
    match manager {
        PackageManager::Dpkg => format!(
            "apt-get install --only-upgrade {}",
            quote(&format!("{name}={fixed}"))
        ),
        PackageManager::Apk => format!("apk add --upgrade {}", quote(name)),
        PackageManager::Rpm => format!("dnf upgrade {}", quote(&format!("{name}-{fixed}"))),
        PackageManager::Pip => format!("pip install {}", quote(&format!("{name}>={fixed}"))),
        PackageManager::Npm => format!("npm install {}", quote(&format!("{name}@{fixed}"))),
        PackageManager::Cargo => {
            format!("cargo update -p {} --precise {}", quote(name), quote(fixed))
        }
        // The standard library comes with the toolchain: raise it, then rebuild.
        PackageManager::Go if name == "stdlib" => format!(
            "go get {}",
            quote(&format!("toolchain@go{}", fixed.trim_start_matches("go")))
        ),
        PackageManager::Go => format!(
            "go get {}",
            quote(&format!("{name}@v{}", fixed.trim_start_matches('v')))
        ),
        PackageManager::Maven => format!(
            "mvn versions:use-dep-version -Dincludes={} -DdepVersion={}",
            quote(name),
            quote(fixed)
        ),
        PackageManager::Gem => format!("gem install {} -v {}", quote(name), quote(fixed)),
        PackageManager::Composer => {
            format!("composer require {}", quote(&format!("{name}:^{fixed}")))
        }
        PackageManager::Nuget => format!(
            "dotnet add package {} --version {}",
            quote(name),
            quote(fixed)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_quote_what_the_shell_would_split() {
        assert_eq!(
            command(PackageManager::Dpkg, "libssl3", "3.0.11-1~deb12u2"),
            "apt-get install --only-upgrade libssl3=3.0.11-1~deb12u2"
        );
        assert_eq!(
            command(PackageManager::Pip, "django", "2.2.24"),
            "pip install 'django>=2.2.24'"
        );
        assert_eq!(
            command(PackageManager::Rpm, "libuuid", "2.32.1-44.el8"),
            "dnf upgrade libuuid-2.32.1-44.el8"
        );
        assert_eq!(
            command(PackageManager::Go, "golang.org/x/net", "0.17.0"),
            "go get golang.org/x/net@v0.17.0"
        );
        assert_eq!(
            command(PackageManager::Go, "stdlib", "1.20.5"),
            "go get toolchain@go1.20.5"
        );
    }
}
