/*
 * no_entry.c - a shared object that is not a nabla plugin (no
 * nb_plugin_init), for tests/test_plugin.sh.
 */
int no_entry_answer(void);

int no_entry_answer(void)
{
	return 42;
}
