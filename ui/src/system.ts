// The page's Chakra system: Chakra's default theme, scoped so that it never restyles Airflow's own page
// (no CSS reset, no global styles, its CSS variables under their own prefix). Dark mode follows Airflow's
// (the `dark` class on <html>), through Chakra's default `_dark` condition.
import { createSystem, defaultConfig } from "@chakra-ui/react";

export const system = createSystem({
  ...defaultConfig,
  preflight: false,
  globalCss: {},
  cssVarsPrefix: "oac",
});
