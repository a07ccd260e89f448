import { render } from "preact";
import { App } from "./App";
import { applyTheme, storedTheme } from "./theme";
import "./style.css";

applyTheme(storedTheme());
render(<App />, document.getElementById("app")!);
