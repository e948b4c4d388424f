namespace HyperpixelFlow.Fuzz;

/// <summary>A small ONNX model in the protobuf wire format (one Conv node, one float initializer), for seeds.</summary>
public static class OnnxSeed
{
    public static byte[] Model(bool withRawData)
    {
        var attribute = Message(String(1, "strides"), Packed(8, [2, 2]));
        var attributeF = Message(String(1, "epsilon"), Tag(2, 5), BitConverter.GetBytes(1e-5f));
        var attributeI = Message(String(1, "group"), Tag(3, 0), Varint(1));
        var node = Message(String(1, "x"), String(1, "conv1.weight"), String(2, "y"), String(3, "conv1"), String(4, "Conv"),
            Field(5, attribute), Field(5, attributeF), Field(5, attributeI));
        float[] values = [0.5f, -1f, 2f, 0.25f, 1e-3f, -7f];
        var data = values.SelectMany(BitConverter.GetBytes).ToArray();
        var tensor = Message(Packed(1, [2, 3]), Tag(2, 0), Varint(1), String(8, "conv1.weight"),
            withRawData ? Field(9, data) : Field(4, data));
        var graph = Message(Field(1, node), Field(5, tensor), String(2, "graph"));
        return Message(Tag(1, 0), Varint(7), Field(7, graph));
    }

    private static byte[] Message(params byte[][] parts) => parts.SelectMany(p => p).ToArray();
    private static byte[] Tag(int field, int wire) => Varint((ulong)((field << 3) | wire));
    private static byte[] Field(int field, byte[] payload) => Message(Tag(field, 2), Varint((ulong)payload.Length), payload);
    private static byte[] String(int field, string text) => Field(field, System.Text.Encoding.UTF8.GetBytes(text));
    private static byte[] Packed(int field, long[] values) => Field(field, values.SelectMany(v => Varint((ulong)v)).ToArray());

    private static byte[] Varint(ulong value)
    {
        var bytes = new List<byte>();
        do
        {
            byte b = (byte)(value & 0x7F);
            value >>= 7;
            bytes.Add(value != 0 ? (byte)(b | 0x80) : b);
        } while (value != 0);
        return [.. bytes];
    }
}
