//! The root password as `/etc/shadow` stores it: SHA-512 crypt (`$6$`), and the edit of the
//! root line that keeps every other line of the file as it was.

use sha_crypt::password_hash::{PasswordHasher, PasswordVerifier};
use sha_crypt::ShaCrypt;

/// True when `hash` (a crypt string) is the hash of `password`.
pub fn verifies(password: &str, hash: &str) -> bool {
    ShaCrypt::SHA512.verify_password(password.as_bytes(), hash).is_ok()
}

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("no randomness for the password salt")]
    NoRandomness,
    #[error("cannot hash the root password: {0}")]
    Hash(String),
}

/// A new SHA-512 crypt hash of `password` with a random 16-character salt.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; 12];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
        .map_err(|_| PasswordError::NoRandomness)?;
    ShaCrypt::SHA512
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// The root line's password field in a shadow file.
pub fn root_hash(shadow: &str) -> Option<&str> {
    shadow
        .lines()
        .find_map(|l| l.strip_prefix("root:"))
        .and_then(|rest| rest.split(':').next())
}

/// `shadow` with the root line's password field set to `hash` (the line is added when absent);
/// `days` is today in days since the epoch, for the last-change field.
pub fn set_root_hash(shadow: &str, hash: &str, days: i64) -> String {
    let mut out = String::with_capacity(shadow.len() + hash.len());
    let mut found = false;
    for line in shadow.lines() {
        match line.strip_prefix("root:") {
            Some(rest) if !found => {
                found = true;
                let mut fields: Vec<String> = rest.split(':').map(str::to_string).collect();
                fields[0] = hash.to_string();
                if fields.len() > 1 {
                    fields[1] = days.to_string();
                }
                out.push_str(&format!("root:{}\n", fields.join(":")));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    if !found {
        out.insert_str(0, &format!("root:{hash}:{days}:0:99999:7:::\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_hashes_made_by_openssl_passwd() {
        // `openssl passwd -6 -salt Rr0m6nYq1hVw2x3Z 'VMware1!'`
        let h = "$6$Rr0m6nYq1hVw2x3Z$JzZyAl3Vp2tm6Ldat4pOX9EIdqLy6A8KlEduJUI3jzkut5awbywd9jgT6chSTjVrZmQ60Yq48xu6nL5S4s44P0";
        assert!(verifies("VMware1!", h));
        assert!(!verifies("VMware1", h));
        // `openssl passwd -6 -salt saltsalt 'pa$$ "word'`
        let h = "$6$saltsalt$DB/DOb3tBX9iV/HJCvURUFaLpCwVjWjX/b8fiLn6lS/N7G/AuOdxD1HRYblu64itK/5CPPDf2HE08tDYztHaj1";
        assert!(verifies("pa$$ \"word", h));
        assert!(!verifies("x", "not a hash") && !verifies("x", "!") && !verifies("x", ""));
    }

    #[test]
    fn new_hashes_are_salted_sha512_and_verify() {
        let (a, b) = (hash("VMware1!").unwrap(), hash("VMware1!").unwrap());
        assert!(a.starts_with("$6$") && a != b);
        assert!(verifies("VMware1!", &a) && verifies("VMware1!", &b));
    }

    #[test]
    fn only_the_root_line_changes() {
        let shadow = "root:!:19000:0:99999:7:::\nbin:x:19000:0:99999:7:::\n";
        assert_eq!(
            set_root_hash(shadow, "$6$s$h", 20000),
            "root:$6$s$h:20000:0:99999:7:::\nbin:x:19000:0:99999:7:::\n"
        );
        assert_eq!(root_hash("bin:x:1\nroot:$6$a$b:1:::\n"), Some("$6$a$b"));
        assert_eq!(set_root_hash("", "H", 5), "root:H:5:0:99999:7:::\n");
    }
}
