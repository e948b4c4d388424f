using System.Text;

namespace HyperpixelFlow.Backbones;

/// <summary>A float32 initializer (weight tensor) of an ONNX graph.</summary>
internal sealed record OnnxTensor(string Name, long[] Dims, float[] Data);

/// <summary>One node of an ONNX graph: operator, input/output value names and its integer/float attributes.</summary>
internal sealed record OnnxNode(string OpType, string Name, string[] Inputs, string[] Outputs,
    IReadOnlyDictionary<string, long[]> IntAttributes, IReadOnlyDictionary<string, float> FloatAttributes);

/// <summary>
/// The parts of an ONNX model that a weight loader needs: nodes in graph order and float initializers.
/// Read with a minimal protobuf wire-format parser (ONNX is plain protobuf; only the fields below are decoded).
/// </summary>
internal sealed class OnnxModel
{
    public IReadOnlyList<OnnxNode> Nodes { get; }
    public IReadOnlyDictionary<string, OnnxTensor> Initializers { get; }

    private OnnxModel(List<OnnxNode> nodes, Dictionary<string, OnnxTensor> initializers)
    {
        Nodes = nodes;
        Initializers = initializers;
    }

    public static OnnxModel Load(string path)
    {
        if (!File.Exists(path)) throw new HyperpixelFlowException($"ONNX model not found: {path}");
        try
        {
            return Parse(File.ReadAllBytes(path));
        }
        catch (FormatException e)
        {
            throw new HyperpixelFlowException($"{path} is not a readable ONNX model: {e.Message}", e);
        }
    }

    public static OnnxModel Parse(ReadOnlySpan<byte> bytes)
    {
        var nodes = new List<OnnxNode>();
        var initializers = new Dictionary<string, OnnxTensor>();
        var model = new ProtoReader(bytes);
        bool sawGraph = false;
        while (model.Next(out int field, out WireType wire))
        {
            if (field == 7 && wire == WireType.LengthDelimited) // ModelProto.graph
            {
                sawGraph = true;
                var graph = new ProtoReader(model.ReadBytes());
                while (graph.Next(out int gField, out WireType gWire))
                {
                    if (gField == 1 && gWire == WireType.LengthDelimited) nodes.Add(ParseNode(graph.ReadBytes()));
                    else if (gField == 5 && gWire == WireType.LengthDelimited)
                    {
                        var tensor = ParseTensor(graph.ReadBytes());
                        initializers[tensor.Name] = tensor;
                    }
                    else graph.Skip(gWire);
                }
            }
            else model.Skip(wire);
        }
        if (!sawGraph) throw new FormatException("no graph in the model");
        return new OnnxModel(nodes, initializers);
    }

    private static OnnxNode ParseNode(ReadOnlySpan<byte> bytes)
    {
        var r = new ProtoReader(bytes);
        var inputs = new List<string>();
        var outputs = new List<string>();
        string name = "", op = "";
        var ints = new Dictionary<string, long[]>();
        var floats = new Dictionary<string, float>();
        while (r.Next(out int field, out WireType wire))
        {
            switch (field)
            {
                case 1 when wire == WireType.LengthDelimited: inputs.Add(r.ReadString()); break;
                case 2 when wire == WireType.LengthDelimited: outputs.Add(r.ReadString()); break;
                case 3 when wire == WireType.LengthDelimited: name = r.ReadString(); break;
                case 4 when wire == WireType.LengthDelimited: op = r.ReadString(); break;
                case 5 when wire == WireType.LengthDelimited: ParseAttribute(r.ReadBytes(), ints, floats); break;
                default: r.Skip(wire); break;
            }
        }
        return new OnnxNode(op, name, inputs.ToArray(), outputs.ToArray(), ints, floats);
    }

    private static void ParseAttribute(ReadOnlySpan<byte> bytes, Dictionary<string, long[]> ints, Dictionary<string, float> floats)
    {
        var r = new ProtoReader(bytes);
        string name = "";
        var values = new List<long>();
        float? f = null;
        while (r.Next(out int field, out WireType wire))
        {
            switch (field)
            {
                case 1 when wire == WireType.LengthDelimited: name = r.ReadString(); break;
                case 2 when wire == WireType.Fixed32: f = r.ReadFloat(); break;
                case 3 when wire == WireType.Varint: values.Add(r.ReadInt64()); break;
                case 8: r.ReadRepeatedInt64(wire, values); break;
                default: r.Skip(wire); break;
            }
        }
        if (values.Count > 0) ints[name] = values.ToArray();
        if (f is float fv) floats[name] = fv;
    }

    private static OnnxTensor ParseTensor(ReadOnlySpan<byte> bytes)
    {
        const int FloatType = 1;
        var r = new ProtoReader(bytes);
        var dims = new List<long>();
        var data = new List<float>();
        float[]? raw = null;
        string name = "";
        int dataType = FloatType;
        while (r.Next(out int field, out WireType wire))
        {
            switch (field)
            {
                case 1: r.ReadRepeatedInt64(wire, dims); break;
                case 2 when wire == WireType.Varint: dataType = (int)r.ReadInt64(); break;
                case 4: r.ReadRepeatedFloat(wire, data); break;
                case 8 when wire == WireType.LengthDelimited: name = r.ReadString(); break;
                case 9 when wire == WireType.LengthDelimited:
                    var rawBytes = r.ReadBytes();
                    raw = new float[rawBytes.Length / 4];
                    rawBytes[..(raw.Length * 4)].CopyTo(System.Runtime.InteropServices.MemoryMarshal.AsBytes(raw.AsSpan()));
                    break;
                default: r.Skip(wire); break;
            }
        }
        if (dataType != FloatType) return new OnnxTensor(name, dims.ToArray(), []);
        var values = raw ?? data.ToArray();
        long expected = dims.Aggregate(1L, (a, b) => a * b);
        if (values.Length != expected)
            throw new FormatException($"initializer '{name}' has {values.Length} values for dims [{string.Join(",", dims)}]");
        return new OnnxTensor(name, dims.ToArray(), values);
    }
}

internal enum WireType { Varint = 0, Fixed64 = 1, LengthDelimited = 2, Fixed32 = 5 }

/// <summary>Forward-only reader of the protobuf wire format (varints, fixed32/64, length-delimited fields).</summary>
internal ref struct ProtoReader(ReadOnlySpan<byte> buffer)
{
    private readonly ReadOnlySpan<byte> _buffer = buffer;
    private int _pos;

    public bool Next(out int field, out WireType wire)
    {
        if (_pos >= _buffer.Length) { field = 0; wire = 0; return false; }
        ulong key = ReadVarint();
        field = (int)(key >> 3);
        wire = (WireType)(key & 7);
        if (field == 0) throw new FormatException($"field number 0 at byte {_pos}");
        return true;
    }

    public ulong ReadVarint()
    {
        ulong result = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (_pos >= _buffer.Length) throw new FormatException("truncated varint");
            byte b = _buffer[_pos++];
            result |= (ulong)(b & 0x7f) << shift;
            if ((b & 0x80) == 0) return result;
        }
        throw new FormatException("varint longer than 10 bytes");
    }

    public long ReadInt64() => (long)ReadVarint();

    public float ReadFloat()
    {
        var span = Take(4);
        return BitConverter.ToSingle(span);
    }

    public ReadOnlySpan<byte> ReadBytes()
    {
        ulong length = ReadVarint();
        if (length > (ulong)(_buffer.Length - _pos)) throw new FormatException($"length {length} at byte {_pos} runs past the end");
        return Take((int)length);
    }

    public string ReadString() => Encoding.UTF8.GetString(ReadBytes());

    public void ReadRepeatedInt64(WireType wire, List<long> into)
    {
        if (wire == WireType.Varint) { into.Add(ReadInt64()); return; }
        if (wire != WireType.LengthDelimited) throw new FormatException($"unexpected wire type {wire} for int64 list");
        var packed = new ProtoReader(ReadBytes());
        while (packed._pos < packed._buffer.Length) into.Add(packed.ReadInt64());
    }

    public void ReadRepeatedFloat(WireType wire, List<float> into)
    {
        if (wire == WireType.Fixed32) { into.Add(ReadFloat()); return; }
        if (wire != WireType.LengthDelimited) throw new FormatException($"unexpected wire type {wire} for float list");
        var bytes = ReadBytes();
        if (bytes.Length % 4 != 0) throw new FormatException("packed float list length is not a multiple of 4");
        into.EnsureCapacity(into.Count + bytes.Length / 4);
        into.AddRange(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes));
    }

    public void Skip(WireType wire)
    {
        switch (wire)
        {
            case WireType.Varint: ReadVarint(); break;
            case WireType.Fixed64: Take(8); break;
            case WireType.Fixed32: Take(4); break;
            case WireType.LengthDelimited: ReadBytes(); break;
            default: throw new FormatException($"unsupported wire type {(int)wire} at byte {_pos}");
        }
    }

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count > _buffer.Length - _pos) throw new FormatException($"truncated field at byte {_pos}");
        var span = _buffer.Slice(_pos, count);
        _pos += count;
        return span;
    }
}
