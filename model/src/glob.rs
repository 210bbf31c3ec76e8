//! Name patterns: `*` matches any run of characters, everything else
//! matches itself. Used for plugin scopes (`user*:mask`), per-table
//! policies, cast rules and file globs, so they all read the same way.

/// Whether `name` matches `pattern`.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let Some((head, rest)) = pattern.split_once('*') else {
        return pattern == name;
    };
    let Some(mut tail) = name.strip_prefix(head) else {
        return false;
    };
    let parts: Vec<&str> = rest.split('*').collect();
    for (i, part) in parts.iter().enumerate() {
        if i == parts.len() - 1 {
            return tail.ends_with(part);
        }
        match tail.find(part) {
            Some(at) => tail = &tail[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn table_globs() {
        assert!(glob_match("users", "users"));
        assert!(!glob_match("users", "users2"));
        assert!(glob_match("user*", "users"));
        assert!(glob_match("*_log", "audit_log"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(glob_match("*", "anything"));
    }
}
