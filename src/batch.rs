//! Task indices handed out by batch schedulers, for the commands that run one piece of a larger
//! job: `simulate --shard K/N` and `sweep --point I`.
//!
//! Kubernetes Indexed Jobs, Slurm job arrays and AWS Batch array jobs each give every task of a
//! job an index in an environment variable; `auto` in place of the index reads it from there.
//! Indices count from 0, as Kubernetes and AWS Batch count (a Slurm array is written
//! `--array=0-(N-1)`).

use anyhow::anyhow;

use crate::Failure;

/// The variables read by `auto`, in the order they are tried.
pub(crate) const INDEX_VARIABLES: [&str; 3] =
    ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID", "AWS_BATCH_JOB_ARRAY_INDEX"];

/// The task index `text` names, checked against `count` tasks: a number, or `auto` for the
/// scheduler's variable (read through `var`, so tests need not touch the process environment).
/// `what` names the flag in errors, e.g. `--shard`.
pub(crate) fn task_index(
    text: &str,
    count: usize,
    what: &str,
    var: impl Fn(&str) -> Option<String>,
) -> Result<usize, Failure> {
    let (index, source) = if text == "auto" {
        let set: Vec<(&str, String)> =
            INDEX_VARIABLES.iter().filter_map(|name| var(name).map(|value| (*name, value))).collect();
        let Some((name, value)) = set.first() else {
            return Err(Failure::BadInput(anyhow!(
                "{what} auto: none of {} is set; pass the index instead of auto",
                INDEX_VARIABLES.join(", ")
            )));
        };
        if let Some((other, other_value)) = set.iter().find(|(_, v)| v.trim() != value.trim()) {
            return Err(Failure::BadInput(anyhow!(
                "{what} auto: {name}={value} and {other}={other_value} disagree; unset one"
            )));
        }
        (value.trim().to_string(), format!("{name}={value}"))
    } else {
        (text.to_string(), format!("{what} {text}"))
    };
    let index: usize =
        index.parse().map_err(|_| Failure::BadInput(anyhow!("{source}: the index must be a whole number from 0")))?;
    if index >= count {
        return Err(Failure::BadInput(anyhow!(
            "{source}: the index must be below {count} (indices count from 0; a Slurm array is --array=0-{})",
            count.saturating_sub(1)
        )));
    }
    Ok(index)
}

/// The process environment, for [`task_index`].
pub(crate) fn environment(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(set: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| set.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_string())
    }

    fn message(result: Result<usize, Failure>) -> String {
        match result {
            Err(Failure::BadInput(e)) => e.to_string(),
            other => panic!("expected bad input, got {other:?}"),
        }
    }

    #[test]
    fn a_number_is_taken_as_it_is_and_checked_against_the_count() {
        assert_eq!(task_index("3", 4, "--shard", vars(&[])).ok(), Some(3));
        assert!(message(task_index("4", 4, "--shard", vars(&[]))).contains("below 4"));
        assert!(message(task_index("-1", 4, "--shard", vars(&[]))).contains("whole number"));
        assert!(message(task_index("x", 4, "--point", vars(&[]))).contains("--point x"));
    }

    #[test]
    fn auto_reads_each_schedulers_variable() {
        for name in INDEX_VARIABLES {
            assert_eq!(task_index("auto", 8, "--shard", vars(&[(name, "5")])).ok(), Some(5), "{name}");
        }
    }

    #[test]
    fn auto_without_a_variable_or_with_disagreeing_ones_is_bad_input() {
        assert!(message(task_index("auto", 8, "--shard", vars(&[]))).contains("JOB_COMPLETION_INDEX"));
        let both = [("JOB_COMPLETION_INDEX", "1"), ("SLURM_ARRAY_TASK_ID", "2")];
        assert!(message(task_index("auto", 8, "--shard", vars(&both))).contains("disagree"));
        let agreeing = [("JOB_COMPLETION_INDEX", "2"), ("SLURM_ARRAY_TASK_ID", "2")];
        assert_eq!(task_index("auto", 8, "--shard", vars(&agreeing)).ok(), Some(2));
        assert!(message(task_index("auto", 8, "--shard", vars(&[("SLURM_ARRAY_TASK_ID", "8")]))).contains("below 8"));
    }
}
