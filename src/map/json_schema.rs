//! A JSON Schema inferred from the payloads seen on a channel: the types
//! each field took, which fields every sample had (required), arrays by
//! their items. Written here: the crates that infer schemas serve a
//! different end (schemars describes Rust types); this merges samples as
//! they come, bounded in depth and width, into the subset AsyncAPI reads.

use serde_json::{Map, Value, json};

/// Deeper or wider shapes are described no further (`{}`: anything).
const MAX_DEPTH: usize = 24;
const MAX_PROPERTIES: usize = 200;

/// What the samples so far looked like at one place in the document.
#[derive(Clone, Debug, Default)]
pub struct Shape {
    seen: u64,
    null: bool,
    boolean: bool,
    integer: bool,
    number: bool,
    string: bool,
    items: Option<Box<Shape>>,
    array: bool,
    object: Option<ObjectShape>,
}

#[derive(Clone, Debug, Default)]
struct ObjectShape {
    seen: u64,
    /// In the order first seen.
    properties: Vec<(String, Shape)>,
    /// More properties than `MAX_PROPERTIES` were seen.
    open: bool,
}

impl Shape {
    /// Merge one more sample.
    pub fn add(&mut self, value: &Value) {
        self.add_at(value, 0);
    }

    fn add_at(&mut self, value: &Value, depth: usize) {
        self.seen += 1;
        if depth >= MAX_DEPTH {
            return;
        }
        match value {
            Value::Null => self.null = true,
            Value::Bool(_) => self.boolean = true,
            Value::Number(n) if n.is_i64() || n.is_u64() => self.integer = true,
            Value::Number(_) => self.number = true,
            Value::String(_) => self.string = true,
            Value::Array(items) => {
                self.array = true;
                let shape = self.items.get_or_insert_with(Default::default);
                for item in items.iter().take(MAX_PROPERTIES) {
                    shape.add_at(item, depth + 1);
                }
            }
            Value::Object(fields) => {
                let object = self.object.get_or_insert_with(Default::default);
                object.seen += 1;
                for (name, field) in fields {
                    let known = object.properties.iter().position(|(n, _)| n == name);
                    match known {
                        Some(i) => object.properties[i].1.add_at(field, depth + 1),
                        None if object.properties.len() < MAX_PROPERTIES => {
                            let mut shape = Shape::default();
                            shape.add_at(field, depth + 1);
                            object.properties.push((name.clone(), shape));
                        }
                        None => object.open = true,
                    }
                }
            }
        }
    }

    pub fn samples(&self) -> u64 {
        self.seen
    }

    /// The JSON Schema (draft 7 words, which AsyncAPI's schema extends).
    pub fn to_schema(&self) -> Value {
        let mut types = Vec::new();
        let mut schema = Map::new();
        if self.object.is_some() {
            types.push("object");
        }
        if self.array {
            types.push("array");
        }
        if self.string {
            types.push("string");
        }
        // An integer field that was once fractional is a number.
        if self.number {
            types.push("number");
        } else if self.integer {
            types.push("integer");
        }
        if self.boolean {
            types.push("boolean");
        }
        if self.null {
            types.push("null");
        }
        match types.as_slice() {
            [] => {}
            [one] => {
                schema.insert("type".into(), json!(one));
            }
            many => {
                schema.insert("type".into(), json!(many));
            }
        }
        if let Some(object) = &self.object {
            let mut properties = Map::new();
            let mut required = Vec::new();
            for (name, shape) in &object.properties {
                properties.insert(name.clone(), shape.to_schema());
                if shape.seen == object.seen {
                    required.push(json!(name));
                }
            }
            schema.insert("properties".into(), Value::Object(properties));
            if !required.is_empty() {
                schema.insert("required".into(), Value::Array(required));
            }
            if object.open {
                schema.insert(
                    "description".into(),
                    json!(format!(
                        "more than {MAX_PROPERTIES} fields seen; the rest not listed"
                    )),
                );
            }
        }
        if let Some(items) = &self.items
            && items.seen > 0
        {
            schema.insert("items".into(), items.to_schema());
        }
        Value::Object(schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_merge_into_types_and_required_fields() {
        let mut shape = Shape::default();
        shape.add(&json!({"id": "a", "total": 3, "lines": [{"sku": "x", "qty": 1}]}));
        shape.add(&json!({"id": "b", "total": 2.5, "note": null, "lines": []}));
        let schema = shape.to_schema();
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["required"], json!(["id", "total", "lines"]));
        assert_eq!(schema["properties"]["total"]["type"], "number");
        assert_eq!(schema["properties"]["note"]["type"], "null");
        assert_eq!(
            schema["properties"]["lines"]["items"]["properties"]["qty"]["type"],
            "integer"
        );
    }

    #[test]
    fn deep_documents_stop_at_the_bound() {
        let mut deep = json!(1);
        for _ in 0..500 {
            deep = json!([deep]);
        }
        let mut shape = Shape::default();
        shape.add(&deep);
        assert_eq!(shape.to_schema()["type"], "array");
    }
}
