import Tapestry
