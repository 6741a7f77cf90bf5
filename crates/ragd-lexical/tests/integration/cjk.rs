//! Chinese and mixed Chinese-English text with the CJK analyzer.

use ragd_lexical::Analyzer;

use crate::support::{add_committed, keys, temp_index};

fn corpus() -> (tempfile::TempDir, ragd_lexical::LexicalIndex) {
    let (dir, index) = temp_index(Analyzer::Cjk);
    add_committed(
        &index,
        &[
            (1, 1, "我们的数据库系统支持全文检索和向量搜索。"),
            (2, 2, "今天天气很好，我们去公园散步吧！"),
            (3, 3, "PostgreSQL数据库的Indexes可以加快查询速度"),
            (4, 4, "中华人民共和国成立于一九四九年"),
            (5, 5, "Running tests in Rust is easy"),
        ],
    );
    (dir, index)
}

#[test]
fn chinese_queries_find_chinese_documents() {
    let (_dir, index) = corpus();
    assert_eq!(keys(&index.search("全文检索", 10, None).unwrap()), [1]);
    assert_eq!(keys(&index.search("向量搜索", 10, None).unwrap()), [1]);
    assert_eq!(keys(&index.search("天气", 10, None).unwrap()), [2]);
    assert_eq!(keys(&index.search("公园", 10, None).unwrap()), [2]);
    assert_eq!(keys(&index.search("人民", 10, None).unwrap()), [4]);
    assert_eq!(keys(&index.search("共和国", 10, None).unwrap()), [4]);
    let hits = index.search("数据库", 10, None).unwrap();
    assert_eq!(keys(&hits).len(), 2);
    assert!(keys(&hits).contains(&1) && keys(&hits).contains(&3));
}

#[test]
fn a_sentence_query_ranks_the_matching_document_first() {
    let (_dir, index) = corpus();
    let hits = index
        .search("怎样使用数据库做全文检索？", 10, None)
        .unwrap();
    assert_eq!(hits[0].key, 1);
}

#[test]
fn english_inside_chinese_is_lowercased_and_stemmed() {
    let (_dir, index) = corpus();
    assert_eq!(
        keys(&index.search("postgresql index", 10, None).unwrap()),
        [3]
    );
    assert_eq!(keys(&index.search("RUNS", 10, None).unwrap()), [5]);
    assert!(index.search("the", 10, None).unwrap().is_empty());
    assert!(index.search("，。！", 10, None).unwrap().is_empty());
}
