// The react_apps entry: Airflow's UI imports this bundle and renders its default export inside its own page.
import { Box, ChakraProvider } from "@chakra-ui/react";
import createCache from "@emotion/cache";
import { CacheProvider } from "@emotion/react";

import { ProfilesPage } from "./ProfilesPage";
import { system } from "./system";

// A style cache of its own: the page's class names never collide with Airflow's (both use Emotion).
const cache = createCache({ key: "oac" });

const OAuthProfilesPlugin = () => (
  <CacheProvider value={cache}>
    <ChakraProvider value={system}>
      <Box className="oauth-connector-page" color="fg" fontSize="sm" height="100%" overflow="auto" p={6}>
        <ProfilesPage />
      </Box>
    </ChakraProvider>
  </CacheProvider>
);

export default OAuthProfilesPlugin;
