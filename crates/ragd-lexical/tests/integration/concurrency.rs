//! Searches from several threads while another thread adds and commits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ragd_lexical::{Analyzer, LexicalEntry};

use crate::support::temp_index;

const BATCH: u64 = 10;
const COMMITS: u64 = 20;

#[test]
fn searches_see_whole_commits_while_a_writer_commits() {
    let (_dir, index) = temp_index(Analyzer::English);
    let index = Arc::new(index);
    let done = Arc::new(AtomicBool::new(false));

    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (index, done) = (Arc::clone(&index), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut last_seen = 0;
                let mut searches = 0;
                while !done.load(Ordering::Acquire) || searches == 0 {
                    let hits = index.search("shared words", 1000, None).unwrap();
                    let seen = hits.len() as u64;
                    assert_eq!(seen % BATCH, 0, "a search saw part of a commit");
                    assert!(seen >= last_seen, "a search went back in time");
                    let scores = index.score_keys("shared", &[0, 1]).unwrap();
                    assert_eq!(scores.len(), 2);
                    last_seen = seen;
                    searches += 1;
                }
                searches
            })
        })
        .collect();

    let writer = {
        let index = Arc::clone(&index);
        std::thread::spawn(move || {
            for commit in 0..COMMITS {
                let texts: Vec<String> = (0..BATCH)
                    .map(|i| format!("shared words number {i} of commit {commit}"))
                    .collect();
                let entries: Vec<LexicalEntry<'_>> = texts
                    .iter()
                    .enumerate()
                    .map(|(i, text)| LexicalEntry {
                        key: commit * BATCH + i as u64,
                        document: commit,
                        text,
                    })
                    .collect();
                index.add(&entries).unwrap();
                index.commit().unwrap();
            }
        })
    };

    writer.join().unwrap();
    done.store(true, Ordering::Release);
    for reader in readers {
        assert!(reader.join().unwrap() > 0);
    }
    assert_eq!(index.num_entries(), BATCH * COMMITS);
    assert_eq!(
        index.search("shared", 1000, None).unwrap().len() as u64,
        BATCH * COMMITS
    );
}
