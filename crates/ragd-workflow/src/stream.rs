//! Live answer streams: the text of answer nodes (advanced-chat) and the LLM outputs of end nodes
//! (workflow), sent while it is produced rather than when the node runs.
//!
//! Each stream walks its node's template segment by segment: static text goes out at once, a variable
//! once its node has finished (or was skipped), and the `text` of an LLM that is generating token by
//! token when the stream may carry it live ([`StreamPlan::live_sources`]: the answer node is reached
//! from the LLM without a branching node, so it will run). A stream starts ("arms") when one of its
//! live LLMs starts, or when its node runs; streams emit one at a time in arming order, so two answers
//! never interleave. When the node itself runs it hands over its rendered parts, and the stream sends
//! only what it had not sent yet.
//!
//! Invariant: the text a stream sends is its node's rendered output, whole and once.

use std::collections::HashMap;

use crate::flow::Flow;
use crate::template::Selector;

/// Whether a stream is a chat answer or a workflow output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamKind {
    /// `message` events from an answer node.
    Answer,
    /// `text_chunk` events from an end node's LLM outputs.
    End,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StreamSegment {
    Text(String),
    Var(Selector),
}

/// A stream's shape, fixed at load.
#[derive(Debug, Clone)]
pub(crate) struct StreamPlan {
    /// The answer or end node.
    pub node: usize,
    pub kind: StreamKind,
    pub segments: Vec<StreamSegment>,
    /// LLM nodes whose tokens may be forwarded as they come.
    pub live_sources: Vec<usize>,
}

/// One piece of text to send.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Emitted {
    pub plan: usize,
    pub text: String,
    /// The selector the text comes from (for `text_chunk.from_variable_selector`).
    pub selector: Option<Selector>,
}

#[derive(Debug, Default)]
struct StreamState {
    armed: bool,
    /// Next segment to send.
    position: usize,
    /// Bytes of the current segment already sent (live LLM text).
    partial: usize,
    /// The node's rendered segments, once it ran.
    final_parts: Option<Vec<String>>,
}

/// The streams of one run.
#[derive(Debug)]
pub(crate) struct Streams {
    states: Vec<StreamState>,
    /// Armed streams, in arming order.
    order: Vec<usize>,
    /// Text generated so far by each LLM node that started and is streamed.
    live_text: HashMap<usize, String>,
}

impl Streams {
    pub fn new(flow: &Flow) -> Streams {
        Streams {
            states: flow
                .stream_plans
                .iter()
                .map(|_| StreamState::default())
                .collect(),
            order: Vec::new(),
            live_text: HashMap::new(),
        }
    }

    fn arm(&mut self, plan: usize) {
        if !self.states[plan].armed {
            self.states[plan].armed = true;
            self.order.push(plan);
        }
    }

    /// An LLM node started: arm the streams that carry it live.
    pub fn llm_started(&mut self, flow: &Flow, node: usize) {
        if !flow.streams_llm(node) {
            return;
        }
        self.live_text.insert(node, String::new());
        for (i, plan) in flow.stream_plans.iter().enumerate() {
            if plan.live_sources.contains(&node) {
                self.arm(i);
            }
        }
    }

    pub fn delta(&mut self, node: usize, text: &str) {
        if let Some(buffer) = self.live_text.get_mut(&node) {
            buffer.push_str(text);
        }
    }

    /// The stream of node `node`, if it has one.
    pub fn plan_of(flow: &Flow, node: usize) -> Option<usize> {
        flow.stream_plans.iter().position(|plan| plan.node == node)
    }

    /// The stream's node ran and rendered these parts (one per segment).
    pub fn finish(&mut self, plan: usize, parts: Vec<String>) {
        self.arm(plan);
        self.states[plan].final_parts = Some(parts);
    }

    /// Sends what can be sent. `resolve` gives the text of a variable whose node finished (or can never
    /// run), `None` while it may still change.
    pub fn pump(
        &mut self,
        flow: &Flow,
        resolve: &dyn Fn(&[String]) -> Option<String>,
    ) -> Vec<Emitted> {
        let mut emitted = Vec::new();
        for i in 0..self.order.len() {
            let plan = self.order[i];
            if !self.advance(flow, plan, resolve, &mut emitted) {
                break;
            }
        }
        emitted
    }

    /// Advances one stream; true when it has sent everything.
    fn advance(
        &mut self,
        flow: &Flow,
        plan_index: usize,
        resolve: &dyn Fn(&[String]) -> Option<String>,
        emitted: &mut Vec<Emitted>,
    ) -> bool {
        let plan = &flow.stream_plans[plan_index];
        let state = &mut self.states[plan_index];
        let mut send = |text: &str, segment: &StreamSegment| {
            if !text.is_empty() {
                let selector = match segment {
                    StreamSegment::Var(selector) => Some(selector.clone()),
                    StreamSegment::Text(_) => None,
                };
                emitted.push(Emitted {
                    plan: plan_index,
                    text: text.to_string(),
                    selector,
                });
            }
        };
        while let Some(segment) = plan.segments.get(state.position) {
            let whole = match (&state.final_parts, segment) {
                (Some(parts), _) => Some(parts.get(state.position).cloned().unwrap_or_default()),
                (None, StreamSegment::Text(text)) => Some(text.clone()),
                (None, StreamSegment::Var(selector)) => resolve(selector),
            };
            match whole {
                Some(text) => {
                    send(text.get(state.partial..).unwrap_or_default(), segment);
                    state.position += 1;
                    state.partial = 0;
                }
                None => {
                    if let StreamSegment::Var(selector) = segment
                        && let [node_id, var] = selector.as_slice()
                        && var == "text"
                        && let Some(llm) = flow.node_index(node_id)
                        && plan.live_sources.contains(&llm)
                        && let Some(buffer) = self.live_text.get(&llm)
                        && buffer.len() > state.partial
                    {
                        send(&buffer[state.partial..], segment);
                        state.partial = buffer.len();
                    }
                    return false;
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOW: &str = r#"
app: {name: s, mode: advanced-chat}
workflow:
  graph:
    nodes:
    - {id: s, data: {type: start, title: S}}
    - {id: l1, data: {type: llm, title: L1, model: {}, prompt_template: [{role: user, text: x}]}}
    - {id: l2, data: {type: llm, title: L2, model: {}, prompt_template: [{role: user, text: y}]}}
    - {id: a1, data: {type: answer, title: A1, answer: "<{{#l1.text#}}>"}}
    - {id: a2, data: {type: answer, title: A2, answer: "[{{#l2.text#}}]"}}
    edges: [{source: s, target: l1}, {source: s, target: l2}, {source: l1, target: a1}, {source: l2, target: a2}]
"#;

    fn texts(emitted: Vec<Emitted>) -> Vec<String> {
        emitted.into_iter().map(|e| e.text).collect()
    }

    #[test]
    fn streams_go_one_at_a_time_and_send_each_text_once() {
        let flow = Flow::from_yaml(FLOW).unwrap();
        let (l1, l2) = (
            flow.node_index("l1").unwrap(),
            flow.node_index("l2").unwrap(),
        );
        let (a1, a2) = (
            flow.node_index("a1").unwrap(),
            flow.node_index("a2").unwrap(),
        );
        let pending = |_: &[String]| -> Option<String> { None };
        let mut streams = Streams::new(&flow);
        streams.llm_started(&flow, l1);
        streams.llm_started(&flow, l2);
        streams.delta(l2, "b1");
        streams.delta(l1, "a1");
        // The first armed stream goes first; the second waits.
        assert_eq!(texts(streams.pump(&flow, &pending)), ["<", "a1"]);
        streams.delta(l1, " a2");
        assert_eq!(texts(streams.pump(&flow, &pending)), [" a2"]);
        assert!(streams.pump(&flow, &pending).is_empty());
        // A1 ran: only the rest of its text goes out, then A2's buffered text follows.
        let plan = Streams::plan_of(&flow, a1).unwrap();
        streams.finish(plan, vec!["<".into(), "a1 a2".into(), ">".into()]);
        assert_eq!(texts(streams.pump(&flow, &pending)), [">", "[", "b1"]);
        let plan = Streams::plan_of(&flow, a2).unwrap();
        streams.finish(plan, vec!["[".into(), "b1 b2".into(), "]".into()]);
        assert_eq!(texts(streams.pump(&flow, &pending)), [" b2", "]"]);
        assert!(streams.pump(&flow, &pending).is_empty());
    }
}
