//! One chunk of a JFR recording: its header, the type metadata, the
//! constant pools and the events, decoded from bytes with every length and
//! offset checked against what is there.

use std::collections::HashMap;

/// The chunk header's length in bytes.
pub(crate) const HEADER_LEN: usize = 68;
const EVENT_METADATA: i64 = 0;
const EVENT_CHECKPOINT: i64 = 1;
/// How deep values may nest inline or through constant pool references.
const MAX_DEPTH: usize = 24;

/// A decoding failure: what and the absolute offset in the file.
#[derive(Debug)]
pub(crate) struct Broken {
    pub at: usize,
    pub message: String,
}

type Result<T> = std::result::Result<T, Broken>;

/// Reads big-endian and compressed integers from a byte slice.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    /// Offset of `data` in the file, for messages.
    base: usize,
    compressed: bool,
}

impl<'a> Cursor<'a> {
    fn broken<T>(&self, message: impl Into<String>) -> Result<T> {
        Err(Broken { at: self.base + self.pos, message: message.into() })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        match self.data.get(self.pos..self.pos.saturating_add(n)) {
            Some(bytes) if self.pos.checked_add(n).is_some() => {
                self.pos += n;
                Ok(bytes)
            }
            _ => self.broken(format!("{n} bytes needed, {} left", self.data.len() - self.pos)),
        }
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N]> {
        let bytes = self.take(N)?;
        let mut out = [0; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// A varint of up to nine bytes (seven bits each, all eight of the last).
    fn varint(&mut self) -> Result<i64> {
        let mut value = 0u64;
        for i in 0..8 {
            let b = self.u8()?;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value as i64);
            }
        }
        Ok((value | u64::from(self.u8()?) << 56) as i64)
    }

    fn long(&mut self) -> Result<i64> {
        if self.compressed {
            self.varint()
        } else {
            Ok(i64::from_be_bytes(self.fixed()?))
        }
    }

    fn int(&mut self) -> Result<i64> {
        if self.compressed {
            self.varint()
        } else {
            Ok(i64::from(i32::from_be_bytes(self.fixed()?)))
        }
    }

    fn short(&mut self) -> Result<i64> {
        if self.compressed {
            self.varint()
        } else {
            Ok(i64::from(i16::from_be_bytes(self.fixed()?)))
        }
    }

    /// A count that must fit in what is left (each item takes a byte at
    /// least), so that no allocation trusts the file.
    fn count(&mut self) -> Result<usize> {
        let n = self.int()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.data.len() - self.pos => Ok(n),
            _ => self.broken(format!(
                "count {n} does not fit in the {} bytes left",
                self.data.len() - self.pos
            )),
        }
    }

    fn string(&mut self) -> Result<Str> {
        Ok(match self.u8()? {
            0 => Str::Null,
            1 => Str::Text(String::new()),
            2 => Str::Pool(self.long()?),
            3 => {
                let n = self.count()?;
                Str::Text(String::from_utf8_lossy(self.take(n)?).into_owned())
            }
            4 => {
                let n = self.count()?;
                let mut text = String::with_capacity(n);
                for _ in 0..n {
                    let unit = self.short()?;
                    text.push(char::from_u32(unit as u32).unwrap_or(char::REPLACEMENT_CHARACTER));
                }
                Str::Text(text)
            }
            5 => {
                let n = self.count()?;
                Str::Text(self.take(n)?.iter().map(|&b| char::from(b)).collect())
            }
            other => return self.broken(format!("unknown string encoding {other}")),
        })
    }
}

/// A string as stored: inline, null, or in the string constant pool.
#[derive(Clone, Debug)]
pub(crate) enum Str {
    Null,
    Text(String),
    Pool(i64),
}

/// A decoded value.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    Int(i64),
    /// A float or double; no reader needs its value.
    Float,
    Str(Str),
    /// A reference into the constant pool of a class.
    Ref(i64, i64),
    /// The fields of an object, in the order its class declares them.
    Object(i64, Vec<Value>),
    Array(Vec<Value>),
}

/// A field of a class.
#[derive(Clone, Debug)]
pub(crate) struct Field {
    pub name: String,
    pub class: i64,
    pub pooled: bool,
    pub array: bool,
}

/// A class of the type metadata.
#[derive(Clone, Debug, Default)]
pub(crate) struct Class {
    pub name: String,
    pub fields: Vec<Field>,
}

/// A decoded chunk.
pub(crate) struct Chunk {
    pub classes: HashMap<i64, Class>,
    pub pools: HashMap<(i64, i64), Value>,
    /// Events of the classes asked for, with their class id.
    pub events: Vec<(i64, Value)>,
    pub duration_nanos: i64,
}

impl Chunk {
    /// The class id of the class called `name`.
    pub fn class_id(&self, name: &str) -> Option<i64> {
        self.classes.iter().find(|(_, c)| c.name == name).map(|(&id, _)| id)
    }

    /// Field `name` of `value` (an object, or a reference to one), with
    /// references followed.
    pub fn field<'a>(&'a self, value: &'a Value, name: &str) -> Option<&'a Value> {
        let Value::Object(class, fields) = self.resolve(value, 0)? else {
            return None;
        };
        let index = self.classes.get(class)?.fields.iter().position(|f| f.name == name)?;
        self.resolve(fields.get(index)?, 0)
    }

    /// `value` with constant pool references followed.
    pub fn resolve<'a>(&'a self, value: &'a Value, depth: usize) -> Option<&'a Value> {
        match value {
            Value::Ref(class, key) if depth < MAX_DEPTH => {
                self.resolve(self.pools.get(&(*class, *key))?, depth + 1)
            }
            Value::Ref(..) => None,
            other => Some(other),
        }
    }

    /// The text of a string value (inline or pooled), or of a `Symbol`-like
    /// object holding one in its `string` field.
    pub fn text<'a>(&'a self, value: &'a Value) -> Option<&'a str> {
        match self.resolve(value, 0)? {
            Value::Str(Str::Text(t)) => Some(t),
            Value::Str(Str::Pool(key)) => {
                let id = self.class_id("java.lang.String")?;
                match self.pools.get(&(id, *key))? {
                    Value::Str(Str::Text(t)) => Some(t),
                    _ => None,
                }
            }
            object @ Value::Object(..) => self.text(self.field(object, "string")?),
            _ => None,
        }
    }

    /// An integer value.
    pub fn int(&self, value: &Value) -> Option<i64> {
        match self.resolve(value, 0)? {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}

/// Decodes the chunk starting at `start` of `file`, keeping the events of
/// the classes named in `wanted`. Returns the chunk and its length.
pub(crate) fn read(file: &[u8], start: usize, wanted: &[&str]) -> Result<(Chunk, usize)> {
    let mut header = Cursor { data: &file[start..], pos: 0, base: start, compressed: false };
    if header.take(4)? != b"FLR\0" {
        return header.broken("no FLR magic at the start of a chunk");
    }
    let major = u16::from_be_bytes(header.fixed()?);
    let _minor = u16::from_be_bytes(header.fixed()?);
    if major != 2 && major != 1 {
        return header.broken(format!("unsupported JFR version {major}"));
    }
    let size = header.long()?;
    let cp_offset = header.long()?;
    let meta_offset = header.long()?;
    let _start_nanos = header.long()?;
    let duration_nanos = header.long()?;
    let _start_ticks = header.long()?;
    let _ticks_per_second = header.long()?;
    let features = i32::from_be_bytes(header.fixed()?);
    let size = match usize::try_from(size) {
        Ok(n) if (HEADER_LEN..=file.len() - start).contains(&n) => n,
        _ => {
            return Err(Broken {
                at: start + 8,
                message: format!("chunk size {size} does not fit the file"),
            })
        }
    };
    let data = &file[start..start + size];
    let compressed = features & 1 != 0;
    let at =
        |offset: i64| usize::try_from(offset).ok().filter(|&o| (HEADER_LEN..size).contains(&o));
    let cursor_at = |pos: usize| Cursor { data, pos, base: start, compressed };

    let meta_at = at(meta_offset).ok_or(Broken {
        at: start + 24,
        message: format!("metadata offset {meta_offset} lies outside the chunk"),
    })?;
    let classes = metadata(&mut cursor_at(meta_at))?;

    // Constant pools form a chain from the header's offset, each checkpoint
    // naming the distance to the one before; a cycle would never end.
    let mut pools = HashMap::new();
    let mut offset = 0i64;
    let mut delta = cp_offset;
    let mut seen = 0;
    while delta != 0 {
        offset = offset.saturating_add(delta);
        seen += 1;
        let Some(pos) = at(offset).filter(|_| seen <= size) else {
            return Err(Broken {
                at: start + 16,
                message: format!("constant pool offset {offset} lies outside the chunk"),
            });
        };
        delta = checkpoint(&mut cursor_at(pos), &classes, &mut pools)?;
    }

    let wanted: Vec<i64> = classes
        .iter()
        .filter(|(_, c)| wanted.contains(&c.name.as_str()))
        .map(|(&id, _)| id)
        .collect();
    let mut events = Vec::new();
    let mut pos = HEADER_LEN;
    while pos < size {
        let mut cursor = cursor_at(pos);
        let len = cursor.int()?;
        let len = match usize::try_from(len) {
            Ok(n) if n > 0 && n <= size - pos => n,
            _ => return cursor.broken(format!("event size {len} does not fit the chunk")),
        };
        let kind = cursor.long()?;
        if wanted.contains(&kind) {
            let mut body = Cursor { data: &data[..pos + len], ..cursor };
            events.push((kind, object(&mut body, &classes, kind, 0)?));
        }
        pos += len;
    }
    Ok((Chunk { classes, pools, events, duration_nanos }, size))
}

/// One element of the metadata tree.
struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    children: Vec<Element>,
}

impl Element {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Decodes the metadata event into its classes.
fn metadata(cursor: &mut Cursor<'_>) -> Result<HashMap<i64, Class>> {
    let _size = cursor.int()?;
    if cursor.long()? != EVENT_METADATA {
        return cursor.broken("the metadata offset does not point at the metadata event");
    }
    let (_start, _duration, _id) = (cursor.long()?, cursor.long()?, cursor.long()?);
    let count = cursor.count()?;
    let mut strings = Vec::with_capacity(count);
    for _ in 0..count {
        strings.push(match cursor.string()? {
            Str::Text(t) => t,
            _ => String::new(),
        });
    }
    let root = element(cursor, &strings, 0)?;

    let mut classes = HashMap::new();
    let all = root.children.iter().filter(|e| e.name == "metadata").flat_map(|e| &e.children);
    for class in all.filter(|e| e.name == "class") {
        let Some(id) = class.attribute("id").and_then(|i| i.parse().ok()) else { continue };
        let fields = class
            .children
            .iter()
            .filter(|e| e.name == "field")
            .map(|f| Field {
                name: f.attribute("name").unwrap_or("").to_string(),
                class: f.attribute("class").and_then(|c| c.parse().ok()).unwrap_or(-1),
                pooled: f.attribute("constantPool") == Some("true"),
                array: f.attribute("dimension").is_some_and(|d| d != "0"),
            })
            .collect();
        classes
            .insert(id, Class { name: class.attribute("name").unwrap_or("").to_string(), fields });
    }
    Ok(classes)
}

fn element(cursor: &mut Cursor<'_>, strings: &[String], depth: usize) -> Result<Element> {
    if depth > MAX_DEPTH {
        return cursor.broken("the metadata nests too deep");
    }
    let string = |cursor: &mut Cursor<'_>| -> Result<String> {
        let i = cursor.int()?;
        match usize::try_from(i).ok().and_then(|i| strings.get(i)) {
            Some(s) => Ok(s.clone()),
            None => cursor.broken(format!("metadata string {i} does not exist")),
        }
    };
    let name = string(cursor)?;
    let count = cursor.count()?;
    let mut attributes = Vec::with_capacity(count);
    for _ in 0..count {
        attributes.push((string(cursor)?, string(cursor)?));
    }
    let count = cursor.count()?;
    let mut children = Vec::with_capacity(count);
    for _ in 0..count {
        children.push(element(cursor, strings, depth + 1)?);
    }
    Ok(Element { name, attributes, children })
}

/// Decodes one checkpoint event into `pools`; returns the delta to the
/// previous checkpoint.
fn checkpoint(
    cursor: &mut Cursor<'_>,
    classes: &HashMap<i64, Class>,
    pools: &mut HashMap<(i64, i64), Value>,
) -> Result<i64> {
    let size = cursor.int()?;
    if size <= 0 {
        return cursor.broken(format!("checkpoint size {size} does not fit the chunk"));
    }
    if cursor.long()? != EVENT_CHECKPOINT {
        return cursor.broken("a constant pool offset does not point at a checkpoint event");
    }
    let (_start, _duration) = (cursor.long()?, cursor.long()?);
    let delta = cursor.long()?;
    let _flush = cursor.u8()?;
    let pool_count = cursor.count()?;
    for _ in 0..pool_count {
        let class = cursor.long()?;
        let count = cursor.count()?;
        for _ in 0..count {
            let key = cursor.long()?;
            let value = value_of(cursor, classes, class, false, 0)?;
            pools.insert((class, key), value);
        }
    }
    Ok(delta)
}

/// Decodes an object of `class`: its fields in order.
fn object(
    cursor: &mut Cursor<'_>,
    classes: &HashMap<i64, Class>,
    class: i64,
    depth: usize,
) -> Result<Value> {
    let Some(descriptor) = classes.get(&class) else {
        return cursor.broken(format!("class {class} is not in the metadata"));
    };
    if depth > MAX_DEPTH {
        return cursor.broken(format!("values of {} nest too deep", descriptor.name));
    }
    if let Some(value) = primitive(cursor, &descriptor.name)? {
        return Ok(value);
    }
    let mut fields = Vec::with_capacity(descriptor.fields.len());
    for field in &descriptor.fields {
        let value = if field.array {
            let n = cursor.count()?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(value_of(cursor, classes, field.class, field.pooled, depth + 1)?);
            }
            Value::Array(items)
        } else {
            value_of(cursor, classes, field.class, field.pooled, depth + 1)?
        };
        fields.push(value);
    }
    Ok(Value::Object(class, fields))
}

fn value_of(
    cursor: &mut Cursor<'_>,
    classes: &HashMap<i64, Class>,
    class: i64,
    pooled: bool,
    depth: usize,
) -> Result<Value> {
    if pooled {
        return Ok(Value::Ref(class, cursor.long()?));
    }
    object(cursor, classes, class, depth)
}

/// The value of a primitive class, `None` for other classes.
fn primitive(cursor: &mut Cursor<'_>, name: &str) -> Result<Option<Value>> {
    Ok(Some(match name {
        "boolean" | "byte" => Value::Int(i64::from(cursor.u8()? as i8)),
        "short" | "char" => Value::Int(cursor.short()?),
        "int" => Value::Int(cursor.int()?),
        "long" => Value::Int(cursor.long()?),
        "float" => {
            cursor.take(4)?;
            Value::Float
        }
        "double" => {
            cursor.take(8)?;
            Value::Float
        }
        "java.lang.String" => Value::Str(cursor.string()?),
        _ => return Ok(None),
    }))
}
