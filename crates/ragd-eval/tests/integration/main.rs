//! Integration tests of ragd-eval: loading the real Cranfield collection (BEIR format) that sits beside
//! the repository (`../shared/datasets`, where CI has it too), and scoring runs made from its qrels.

mod cranfield;
