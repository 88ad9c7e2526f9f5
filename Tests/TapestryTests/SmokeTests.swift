import Tapestry
import Testing

@Test func smoke() {
  let x = Tensor<Double>([1, 2, 3])
  let g = gradient(at: x) { ($0 * $0).sum() }
  #expect(g.scalars == [2, 4, 6])
}
